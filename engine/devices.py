"""Choosing the device and precision that inference runs on."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(RuntimeError):
    """A requested device does not exist on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Names of the devices usable here, best first (always ends with ``cpu``)."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(name: str = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda[:N]``/``mps`` into a device, or explain why it cannot be had.

    ``auto`` picks CUDA, then Apple MPS, then the CPU.
    """
    name = name.strip().lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available here; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device
    if name == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS was requested but is not available here; use --device cpu or auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")


def inference_dtype(device: torch.device) -> torch.dtype:
    """Half precision on CUDA (tensor cores), full precision elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32
