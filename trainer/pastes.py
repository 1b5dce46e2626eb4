"""Pastes whose colours are right: one photo's object on another photo lit the same way.

Every unedited training composite shows an object before its own background, so an object whose
colours differ from its scene's (a white dog before a green hedge, a bright warm object before a
cool sky) is met almost only as an edit, and a fitted prior learns to pull it toward the scene. A
user's composite is an object from one photo on another: its colours often differ from the scene's
for what it is, not for how it is lit. An object pasted onto another photo whose light matches
(the colour and level of the brightest pixels of the two backgrounds) is such a composite with
nothing to correct: described as its own real photo, it teaches the fit to leave it alone.

Items are made on demand from the training dataset, whose items are fixed by their keys, so only
each pool item's light is kept between the two passes.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from engine.color import LUMINANCE_WEIGHTS, srgb_to_linear
from trainer.dataset import HarmonizationDataset
from trainer.sampling import sample_keys

POOL_PER_PASTE = 3  # pool items looked at per paste wanted: the objects among them, and their partners
PASTE_AREA = (0.05, 0.5)  # an object's share of the picture, to be pasted
BRIGHT_SHARE = 0.05  # the brightest share of a background's unclipped pixels shows its light
_CLIPPED = 0.98  # a pixel whose largest channel is above this is clipped
_LEVEL_WEIGHT = 0.5  # a difference of level counts half as much as one of colour (both in log)
_EPS = 1e-3
_BATCH = 64
_DISTANCE_ROWS = 4096  # rows of the pool's distance matrix computed at once


def background_light(real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, 3)``: the colour (log R/G, log B/G) and half the log level of the brightest unclipped
    ``BRIGHT_SHARE`` of each picture's pixels outside ``mask``, in linear light (zeros where none
    is unclipped).

    Args:
        real: ``(B, 3, S, S)`` pictures in ``[0, 1]``.
        mask: ``(B, 1, S, S)`` foreground weights in ``[0, 1]``.
    """
    linear = srgb_to_linear(real.float().clamp(0, 1)).flatten(2)
    luminance = (linear * torch.tensor(LUMINANCE_WEIGHTS)[:, None]).sum(dim=1)
    usable = (mask.flatten(1) < 0.5) & (real.amax(dim=1).flatten(1) < _CLIPPED)
    ranked = luminance.masked_fill(~usable, float("nan"))
    threshold = torch.nanquantile(ranked, 1 - BRIGHT_SHARE, dim=1, keepdim=True).nan_to_num(float("inf"))
    bright = (usable & (luminance >= threshold)).float()
    colour = (linear * bright[:, None]).sum(dim=2) / bright.sum(dim=1, keepdim=True).clamp(min=1)
    red, green, blue = colour.clamp(min=_EPS).unbind(dim=1)
    return torch.stack((
        (red / green).log(), (blue / green).log(), _LEVEL_WEIGHT * ((red + green + blue) / 3).log(),
    ), dim=1)


def light_partners(lights: torch.Tensor, photos: torch.Tensor) -> torch.Tensor:
    """``(N,)``: for each of ``N`` pool items, the item of another photo whose background light
    (:func:`background_light`, ``(N, 3)``) is nearest; ``photos`` ``(N,)`` says which photo each is."""
    partners = []
    for start in range(0, len(lights), _DISTANCE_ROWS):
        rows = slice(start, start + _DISTANCE_ROWS)
        distance = torch.cdist(lights[rows], lights)
        distance[photos[rows, None] == photos[None, :]] = float("inf")
        partners.append(distance.argmin(dim=1))
    return torch.cat(partners)


class LightMatchedPastes(Dataset):
    """Pastes of pool objects onto their partners' photos, each its own real photo: items are dicts
    with ``composite`` and ``real`` (the same paste) and the object's ``mask``, as the training
    dataset's."""

    def __init__(self, dataset: Dataset, pairs: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> None:
        self.dataset = dataset
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        object_key, background_key = self.pairs[index]
        item = self.dataset[object_key]
        mask = item["mask"]
        pasted = item["real"] * mask + self.dataset[background_key]["real"] * (1 - mask)
        return {"composite": pasted, "real": pasted, "mask": mask}


def light_matched_pastes(dataset: HarmonizationDataset, count: int, kinds: set[int], seed: int, workers: int,
                         stop: list[bool] | None = None) -> LightMatchedPastes | None:
    """Up to ``count`` pastes of objects from the data folders ``kinds`` (their indices in
    ``dataset.sources``), each onto the photo of a pool of ``POOL_PER_PASTE * count`` items whose
    background is lit most alike; None when ``stop[0]`` was set on the way. ``dataset`` should
    give photos their own masks; only its real photos are read (``DataConfig.photos_only`` skips
    making the composites)."""
    keys = sample_keys(len(dataset), POOL_PER_PASTE * count, seed)
    loader = DataLoader(Subset(dataset, keys), batch_size=_BATCH, num_workers=workers)
    lights, areas, item_kinds = [], [], []
    for batch in loader:
        if stop is not None and stop[0]:
            return None
        lights.append(background_light(batch["real"], batch["mask"]))
        areas.append(batch["mask"].mean(dim=(1, 2, 3)))
        item_kinds.append(batch["kind"])
    light, area, kind = torch.cat(lights), torch.cat(areas), torch.cat(item_kinds)
    partners = light_partners(light, torch.tensor([index for _, index in keys]))
    wanted = torch.isin(kind, torch.tensor(sorted(kinds))) & (area > PASTE_AREA[0]) & (area < PASTE_AREA[1])
    chosen = wanted.nonzero().flatten()[:count].tolist()
    return LightMatchedPastes(dataset, [(keys[i], keys[int(partners[i])]) for i in chosen])
