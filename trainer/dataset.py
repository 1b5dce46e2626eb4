"""The training Dataset: (composite, mask, real) triplets from any recognised data source.

iHarmony4 samples bring their own composites; every other sample is a real photo whose masked
region is recoloured on the fly (:mod:`trainer.synthesis`). Masks come from the sample's mask
file or alpha, from object silhouettes (``DataConfig.shapes``) or from random blobs.

Every random choice for item ``index`` is drawn from one generator seeded with
``(seed, epoch, index)`` (validation: a fixed reserved epoch and no augmentation), so an item is
the same in every process, with any number of workers, and after a resume.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from engine.dict_config import DictConfig
from engine.imageio import ImageReadError, read_image, to_float
from engine.training_protocol import VALIDATION_SHARE
from trainer.masks import ShapeBank, random_blob_mask
from trainer.photo_cache import PhotoCache
from trainer.sources import DataError, DataSource, Sample, own_mask
from trainer.synthesis import SynthesisConfig, synthesize

log = logging.getLogger("trainer.data")

VAL_EPOCH = 2**32 - 1  # the generator's epoch slot for validation items (seeds must be non-negative)
_MAX_ATTEMPTS = 8
_REFERENCE_SIZE = 128  # references only lend statistics, so a small copy is enough
_CROP_SIDE = (0.6, 1.0)  # crop side as a share of the image's shorter side
_CROP_ASPECT = 0.1  # log-scale jitter of the crop's aspect ratio
_CROP_TRIES = 5
_MIN_KEPT = 0.5  # share of the foreground a crop must keep in view
_MASK_AREA = (0.002, 0.98)  # mean mask outside this range: replaced by a generated one


@dataclass(frozen=True)
class DataConfig(DictConfig):
    """What the dataset produces.

    Attributes:
        size: Side of the square training images.
        val_fraction: Validation share for sources without their own split.
        seed: The run's seed (``TrainConfig.seed`` reads it here): of the split, the data order,
            the model's initialisation and every random choice.
        synthesis: How composites are made from real photos.
        shapes: Folder of RGBA cut-outs whose alphas serve as extra object-shaped masks.
        shape_probability: With ``shapes``: chance that a photo uses a silhouette instead of its
            own mask.
        photos_only: Items are the real photos, unedited (``composite`` is ``real``), with the same
            crops and masks as the composites' items: for passes that read only the photos.
    """

    size: int = 256
    val_fraction: float = VALIDATION_SHARE
    seed: int = 0
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    shapes: str | None = None
    shape_probability: float = 0.5
    photos_only: bool = False

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if not 0.0 <= self.shape_probability <= 1.0:
            raise ValueError(f"shape_probability must be in [0, 1], got {self.shape_probability}")


class _UnusableSample(Exception):
    """A sample's files were read but cannot make a triplet (no alpha, mismatched composite)."""


class HarmonizationDataset(Dataset):
    """Training or validation triplets from one or more data sources.

    Items are dicts: ``composite`` and ``real`` ``(3, S, S)`` float32 in ``[0, 1]``, ``mask``
    ``(1, S, S)`` float32 in ``[0, 1]`` and ``index`` (the requested index). The default collate
    function batches them.
    """

    def __init__(self, sources: Sequence[DataSource], split: str, config: DataConfig) -> None:
        if split not in ("train", "val"):
            raise ValueError(f'split must be "train" or "val", got {split!r}')
        self.sources = list(sources)
        self.split = split
        self.config = config
        self._items = [(s, sample) for s, source in enumerate(self.sources) for sample in getattr(source, split)]
        if split == "train" and not self._items:
            raise DataError(f"no training samples in {', '.join(str(s.root) for s in self.sources) or 'no source'}")
        self._references: dict[tuple[int, str], list[int]] = {}
        for i, (s, sample) in enumerate(self._items):
            if sample.region:
                self._references.setdefault((s, sample.region), []).append(i)
        self._shapes = ShapeBank.from_folder(config.shapes) if config.shapes else None
        self._photos = PhotoCache(config.size)
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """Item ``key``: an ``(epoch, index)`` pair, or an index of epoch 0 (validation ignores the epoch)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        index, epoch = int(index), int(epoch)  # samplers may hand out numpy integers
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if self.split == "val":
            epoch = VAL_EPOCH
        rng = np.random.default_rng((self.config.seed, epoch, index))
        candidate, failures = index, []
        with _single_threaded():
            for _ in range(_MAX_ATTEMPTS):
                try:
                    item = self._make_item(candidate, rng)
                except (ImageReadError, _UnusableSample, OSError) as err:
                    self._warn_bad(self._items[candidate][1], err)
                    failures.append(str(err))
                    candidate = int(rng.integers(len(self)))
                    continue
                item["index"] = index
                item["kind"] = self._items[candidate][0]  # the data folder it comes from
                return item
        raise DataError(f"{_MAX_ATTEMPTS} samples in a row could not be used (item {index}): " + "; ".join(failures))

    def _make_item(self, i: int, rng: np.random.Generator) -> dict:
        source, sample = self._items[i]
        train = self.split == "train"
        if sample.mask_source == "iharmony4":
            image = read_image(sample.real)
            real = to_float(image.rgb)
            composite = real if self.config.photos_only else to_float(read_image(sample.composite).rgb)
            if composite.shape != real.shape:
                raise _UnusableSample(f'composite "{sample.composite}" is not the size of "{sample.real}"')
            mask = own_mask(sample, image)
            composite, mask, real = _geometry([composite, mask, real], mask, rng, train, self.config.size)
            return _to_item(composite, mask, real)
        image = self._photos.load(sample.real)
        real = to_float(image.rgb)
        mask = own_mask(sample, image)
        if mask is not None and self._shapes is not None and rng.random() < self.config.shape_probability:
            mask = None
        labelled = mask is not None
        if labelled:
            mask, real = _geometry([mask, real], mask, rng, train, self.config.size)
            if not _MASK_AREA[0] < float(mask.mean()) < _MASK_AREA[1]:
                log.debug('mask of "%s" is empty or covers the image here; a generated one is used', sample.real)
                mask, labelled = None, False
        else:
            (real,) = _geometry([real], None, rng, train, self.config.size)
        if mask is None:
            mask = self._generated_mask(rng)
        mask_t, real_t = _to_tensor(mask), _to_tensor(real)
        if self.config.photos_only:
            return {"composite": real_t, "mask": mask_t, "real": real_t}
        reference = self._reference(i, source, sample, rng) if labelled else None
        synthesis = self.config.synthesis
        if reference is not None:
            synthesis = replace(synthesis, retouch_probability=0.0)  # the choice was made here
        composite_t = synthesize(real_t, mask_t, rng, synthesis, reference)
        return {"composite": composite_t, "mask": mask_t, "real": real_t}

    def _generated_mask(self, rng: np.random.Generator) -> np.ndarray:
        size = self.config.size
        if self._shapes is not None:
            return self._shapes.random_mask(size, size, rng)
        return random_blob_mask(size, size, rng)

    def _reference(
        self, i: int, source: int, sample: Sample, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Another region of the same category from the same source and split, or None (retouch)."""
        if not sample.region or rng.random() < self.config.synthesis.retouch_probability:
            return None
        others = [j for j in self._references.get((source, sample.region), []) if j != i]
        if not others:
            return None
        other = self._items[others[int(rng.integers(len(others)))]][1]
        try:
            image = self._photos.load(other.real)
            mask = own_mask(other, image)
        except (ImageReadError, OSError) as err:
            self._warn_bad(other, err)
            return None
        if mask is None:
            return None
        real = to_float(image.rgb)
        side = min(self.config.size, _REFERENCE_SIZE)
        real = cv2.resize(real, (side, side), interpolation=_interpolation(real.shape[:2], side))
        mask = cv2.resize(mask, (side, side), interpolation=_interpolation(mask.shape[:2], side))
        return _to_tensor(real), _to_tensor(mask)

    def _warn_bad(self, sample: Sample, err: Exception) -> None:
        key = str(sample.real)
        if key in self._warned:
            log.debug("skipping %s again: %s", key, err)
            return
        self._warned.add(key)
        log.warning('skipping unusable sample "%s" (another item is used instead): %s', key, err)


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """Run on one torch thread outside DataLoader workers too (workers already use one).

    Multi-threaded CPU reductions split work by thread count, so the last bits of a result
    would depend on whether the item was made in a worker or in the main process.
    """
    saved = torch.get_num_threads()
    if get_worker_info() is not None or saved == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _geometry(
    arrays: list[np.ndarray], mask: np.ndarray | None, rng: np.random.Generator, train: bool, size: int
) -> list[np.ndarray]:
    """Crop (training only; keeping the foreground in view), resize to ``size``, flip (training only)."""
    height, width = arrays[0].shape[:2]
    top, left, crop_h, crop_w = _random_crop(height, width, mask, rng) if train else (0, 0, height, width)
    flip = train and rng.random() < 0.5
    out = []
    for array in arrays:
        array = array[top : top + crop_h, left : left + crop_w]
        array = cv2.resize(array, (size, size), interpolation=_interpolation((crop_h, crop_w), size))
        out.append(np.ascontiguousarray(array[:, ::-1] if flip else array))
    return out


def _random_crop(
    height: int, width: int, mask: np.ndarray | None, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)``: a near-square crop that keeps half the foreground and some background."""
    total = float(mask.sum()) if mask is not None else 0.0
    for _ in range(_CROP_TRIES):
        side = rng.uniform(*_CROP_SIDE) * min(height, width)
        stretch = float(np.exp(rng.uniform(-_CROP_ASPECT, _CROP_ASPECT)))
        crop_h = int(np.clip(round(side * stretch), 1, height))
        crop_w = int(np.clip(round(side / stretch), 1, width))
        top = int(rng.integers(height - crop_h + 1))
        left = int(rng.integers(width - crop_w + 1))
        if mask is None or total <= 0:
            return top, left, crop_h, crop_w
        window = mask[top : top + crop_h, left : left + crop_w]
        kept = float(window.sum())
        if kept >= _MIN_KEPT * total and kept < _MASK_AREA[1] * window.size:
            return top, left, crop_h, crop_w
    return 0, 0, height, width


def _interpolation(shape: tuple[int, int], size: int) -> int:
    return cv2.INTER_AREA if shape[0] > size or shape[1] > size else cv2.INTER_LINEAR


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` or ``(H, W)`` numpy -> ``(3, H, W)`` or ``(1, H, W)`` float32 tensor in ``[0, 1]``."""
    array = np.clip(array.astype(np.float32, copy=False), 0.0, 1.0)
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def _to_item(composite: np.ndarray, mask: np.ndarray, real: np.ndarray) -> dict:
    return {"composite": _to_tensor(composite), "mask": _to_tensor(mask), "real": _to_tensor(real)}
