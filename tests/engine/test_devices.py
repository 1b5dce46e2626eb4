from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.devices import DeviceError, available_devices, inference_dtype, resolve_device
from engine.harmonizer import ClassicalHarmonizer, NetworkHarmonizer
from engine.model.generator import GeneratorConfig, SCSCoGenerator
from engine.pipeline import harmonize_array

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")
# Half precision on the GPU against float32 on the CPU, in 8-bit levels of the output.
CPU_GPU_TOLERANCE = 2


def test_auto_picks_the_best_available_device() -> None:
    assert resolve_device("auto").type == available_devices()[0]
    assert resolve_device("CPU") == torch.device("cpu")
    assert inference_dtype(torch.device("cpu")) == torch.float32


def test_unknown_device_is_explained() -> None:
    with pytest.raises(DeviceError, match="tpu"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_request_without_gpu_is_explained() -> None:
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    composite = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    mask = np.zeros((300, 400), np.float32)
    mask[50:250, 100:300] = 1.0
    composite[mask > 0] = (composite[mask > 0] * 0.6).astype(np.uint8)
    return composite, mask


@needs_cuda
@pytest.mark.parametrize("head", ["mapping", "rgb"])
def test_cuda_and_cpu_results_agree(head: str) -> None:
    composite, mask = _scene()
    torch.manual_seed(0)
    model = SCSCoGenerator(GeneratorConfig(head=head))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    cpu = harmonize_array(NetworkHarmonizer(model, "cpu"), composite, mask)
    gpu = harmonize_array(NetworkHarmonizer(model.to("cuda"), "cuda"), composite, mask)
    assert np.abs(cpu.astype(int) - gpu).max() <= CPU_GPU_TOLERANCE


@needs_cuda
def test_classical_agrees_on_cuda() -> None:
    composite, mask = _scene()
    cpu = harmonize_array(ClassicalHarmonizer("cpu"), composite, mask)
    gpu = harmonize_array(ClassicalHarmonizer("cuda"), composite, mask)
    assert np.abs(cpu.astype(int) - gpu).max() <= 1
