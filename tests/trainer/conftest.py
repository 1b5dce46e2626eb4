"""A tiny photo folder and tiny run settings shared by the training-run tests."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

TINY_RUN = [
    "--size", "32", "--width", "4", "--batch-size", "4", "--workers", "0", "--device", "cpu",
    "--vgg-weights", "random", "--negatives", "3", "--val-limit", "8", "--log-every", "1",
]


def make_photo_folder(root: Path, count: int = 24, size: int = 48, seed: int = 0) -> Path:
    """``images/`` + ``masks/``: textured outdoor-like photos with one rectangular region each."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        sky = np.array([200, 170, 120]) + rng.normal(0, 15, 3)
        ground = np.array([60, 110, 70]) + rng.normal(0, 15, 3)
        image = np.empty((size, size, 3))
        image[: size // 2] = sky
        image[size // 2 :] = ground
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        top, left = rng.integers(4, size // 2, 2)
        mask[top : top + size // 3, left : left + size // 3] = 255
        cv2.imwrite(str(root / "images" / f"photo_{i:03d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"photo_{i:03d}.png"), mask)
    return root


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    return make_photo_folder(tmp_path / "photos")
