"""torch.distributed set-up: one process per GPU (NCCL) or per CPU worker (gloo), via torchrun."""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from engine.devices import resolve_device


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes checkpoints, logs and previews."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_as_replica() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> Context:
    """Join the process group torchrun describes in the environment, or run alone."""
    if not launched_as_replica():
        return Context(0, 1, resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(), chosen)


def teardown(context: Context, finished: bool = False) -> None:
    """Leave the process group. After a run every rank ``finished`` (not after a failure, where a
    peer may never arrive), the ranks first wait for each other, so that none closes its
    connections while rank 0 still writes the last checkpoint."""
    if context.distributed and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def leave(code: int) -> NoReturn:
    """End this replica with ``code`` once its output is flushed, skipping the interpreter's
    finalisation: there, after the process group was destroyed and every file written, a gloo
    replica still ended in SIGABRT ("terminate called without an active exception") in about one
    finished two-process run in ten on a 2-core machine, and torchrun reported the run failed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def any_rank(flag: bool, context: Context) -> bool:
    """True on every rank when it is true on at least one (e.g. a stop request)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def barrier(context: Context) -> None:
    if context.distributed:
        dist.barrier()


def parameters_digest(model: nn.Module) -> str:
    """A short hash of the weights, to check that replicas agree."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def replicas_identical(model: nn.Module, context: Context) -> bool:
    if not context.distributed:
        return True
    digests: list[str | None] = [None] * context.world_size
    dist.all_gather_object(digests, parameters_digest(model))
    return len(set(digests)) == 1
