"""Saving and restoring a training run: the engine's checkpoint format plus optimizer state.

``last.safetensors`` holds everything needed to continue (weights, optimizer moments, schedule,
scaler, step, best score, the run's configuration); ``best.safetensors`` holds the weights with the
best validation fMSE. Both load in the engine as ordinary models (it reads only the
``generator.*`` tensors), and both are written atomically, so a kill or a full disk mid-write
leaves the previous file intact.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from engine.model.generator import SCSCoGenerator

_OPTIMIZER_PREFIX = "optimizer."


@dataclass
class RunState:
    """Where a run stands."""

    step: int = 0
    best_fmse: float | None = None
    best_step: int | None = None
    wall_time_s: float = 0.0


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split the optimizer's state into tensors and a JSON-able remainder."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{_OPTIMIZER_PREFIX}{index}.{key}"] = value
            else:
                plain.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "plain_state": plain}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        if name.startswith(_OPTIMIZER_PREFIX):
            index, key = name[len(_OPTIMIZER_PREFIX) :].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    for index, values in saved.get("plain_state", {}).items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def save_run(
    path: Path,
    model: SCSCoGenerator,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    run: RunState,
    metadata: dict[str, Any],
) -> None:
    """Write the resumable ``last`` checkpoint."""
    tensors, optimizer_meta = _optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    meta = dict(metadata)
    meta["training_state"] = {
        "run": asdict(run),
        "optimizer": optimizer_meta,
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }
    save_checkpoint(path, model, meta, extra_tensors=tensors)


def load_run(
    path: Path,
    model: SCSCoGenerator,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> tuple[RunState, dict[str, Any]]:
    """Restore weights, optimizer, schedule and scaler from ``path``; returns the run state and metadata.

    Raises:
        CheckpointError: the file is unusable or was not written by a training run.
    """
    tensors, meta = read_checkpoint(path)
    saved = meta.get("training_state")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} holds a model but no training state; use --init to start from it instead")
    weights = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    try:
        model.load_state_dict(weights)
        _restore_optimizer(optimizer, tensors, saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path} does not match this run's model or optimizer: {error}") from error
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return RunState(**saved["run"]), meta
