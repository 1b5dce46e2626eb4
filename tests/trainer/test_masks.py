"""Tests for trainer.masks: generated blob masks and the silhouette bank."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.imageio import write_png
from trainer.masks import ShapeBank, random_blob_mask
from trainer.sources import DataError

MaskMaker = Callable[..., np.ndarray]


def _rgba(path: Path, alpha: np.ndarray) -> None:
    rgb = np.full((*alpha.shape, 3), 128, np.uint8)
    write_png(path, rgb, alpha)


def _bank_folder(folder: Path) -> Path:
    folder.mkdir()
    disc = np.zeros((60, 80), np.uint8)
    cv2.circle(disc, (40, 30), 20, 255, -1, lineType=cv2.LINE_AA)
    _rgba(folder / "disc.png", disc)
    ell = np.zeros((50, 120), np.uint8)
    cv2.ellipse(ell, (60, 25), (50, 10), 20, 0, 360, 255, -1, lineType=cv2.LINE_AA)
    _rgba(folder / "stick.png", ell)
    _rgba(folder / "opaque.png", np.full((20, 20), 255, np.uint8))  # no silhouette: skipped
    cv2.imwrite(str(folder / "photo.jpg"), np.zeros((20, 20, 3), np.uint8))  # no alpha: skipped
    (folder / "broken.png").write_bytes(b"not a png")  # unreadable: skipped
    return folder


@pytest.fixture(params=["blob", "shapes"])
def make_mask(request: pytest.FixtureRequest, tmp_path: Path) -> MaskMaker:
    if request.param == "blob":
        return random_blob_mask
    return ShapeBank.from_folder(_bank_folder(tmp_path / "shapes")).random_mask


def test_shape_bank_keeps_only_usable_silhouettes(tmp_path: Path) -> None:
    bank = ShapeBank.from_folder(_bank_folder(tmp_path / "shapes"))
    assert len(bank) == 2 and bank.names == ["disc.png", "stick.png"]
    assert len(ShapeBank.from_folder(tmp_path / "shapes", max_shapes=1)) == 1


def test_shape_bank_without_silhouettes_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    _rgba(tmp_path / "flat" / "opaque.png", np.full((20, 20), 255, np.uint8))
    with pytest.raises(DataError, match="no usable silhouette"):
        ShapeBank.from_folder(tmp_path / "flat")
    with pytest.raises(DataError, match="does not exist"):
        ShapeBank.from_folder(tmp_path / "missing")


@pytest.mark.parametrize(("height", "width"), [(64, 64), (48, 96), (96, 40)])
def test_masks_are_never_empty_or_full_and_respect_the_area(make_mask: MaskMaker, height: int, width: int) -> None:
    for seed in range(40):
        mask = make_mask(height, width, np.random.default_rng(seed))
        assert mask.shape == (height, width) and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() <= 1.0
        assert (mask > 0.5).any() and not (mask > 0.5).all()
        assert 0.05 * 0.8 <= mask.mean() <= 0.45 * 1.1


def test_narrow_area_range_is_hit(make_mask: MaskMaker) -> None:
    areas = [make_mask(96, 96, np.random.default_rng(s), area=(0.2, 0.2)).mean() for s in range(20)]
    assert np.allclose(areas, 0.2, atol=0.03)


def test_edges_are_soft_and_narrow(make_mask: MaskMaker) -> None:
    mask = make_mask(96, 96, np.random.default_rng(7))
    partial = (mask > 0.02) & (mask < 0.98)
    assert partial.any(), "edges should be antialiased"
    inside = (mask > 0.5).astype(np.uint8)
    kernel = np.ones((5, 5), np.uint8)  # 2 px either side of the edge
    band = cv2.dilate(inside, kernel).astype(bool) & ~cv2.erode(inside, kernel).astype(bool)
    assert not (partial & ~band).any(), "soft values only within two pixels of the edge"


def test_masks_are_deterministic_per_seed(make_mask: MaskMaker) -> None:
    first = make_mask(64, 64, np.random.default_rng(11))
    assert np.array_equal(first, make_mask(64, 64, np.random.default_rng(11)))
    assert not np.array_equal(first, make_mask(64, 64, np.random.default_rng(12)))


def test_bad_area_is_rejected() -> None:
    with pytest.raises(ValueError, match="area"):
        random_blob_mask(32, 32, np.random.default_rng(0), area=(0.5, 1.0))
