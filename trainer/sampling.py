"""The order in which training images are visited: a function of (seed, epoch) alone.

Every process of a distributed run computes the same permutation and takes its own slice, so
the data are sharded without communication, and a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""
from __future__ import annotations

import numpy as np
import torch


def steps_per_epoch(dataset_size: int, batch_size: int, world_size: int = 1) -> int:
    """Whole steps an epoch holds (the remainder that fills no batch on every rank is skipped)."""
    return dataset_size // (batch_size * world_size)


def epoch_batches(
    dataset_size: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> list[list[int]]:
    """This rank's batches of dataset indices for one epoch, in order.

    Raises:
        ValueError: the dataset cannot fill one batch on every rank.
    """
    steps = steps_per_epoch(dataset_size, batch_size, world_size)
    if steps == 0:
        raise ValueError(
            f"{dataset_size} training images cannot fill one batch of {batch_size} on {world_size} process(es); "
            "lower --batch-size or add images"
        )
    order = np.random.default_rng((seed, epoch)).permutation(dataset_size)
    per_step = order[: steps * batch_size * world_size].reshape(steps, world_size, batch_size)
    return per_step[:, rank].tolist()


def sample_keys(dataset_size: int, samples: int, seed: int) -> list[tuple[int, int]]:
    """``samples`` ``(epoch, index)`` keys: whole passes over the images in a seeded order, each
    pass's composites made anew."""
    generator = torch.Generator().manual_seed(seed)
    keys: list[tuple[int, int]] = []
    epoch = 0
    while len(keys) < samples:
        keys += [(epoch, int(i)) for i in torch.randperm(dataset_size, generator=generator)]
        epoch += 1
    return keys[:samples]
