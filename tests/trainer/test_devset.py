from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import main
from engine.iharmony import find_triplets
from tests.trainer.conftest import make_photo_folder


def _cutouts(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        rgba = np.zeros((40, 40, 4), np.uint8)
        rgba[..., :3] = 120
        cv2.circle(rgba, (20, 20), 10 + 3 * i, (90, 160, 200, 255), -1)
        cv2.imwrite(str(folder / f"shape_{i}.png"), rgba)
    return folder


def _backgrounds(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"bg_{i}.jpg"), rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    return folder


def _make(tmp_path: Path, out: str) -> Path:
    args = ["devset", str(tmp_path / out), "--labelme", str(tmp_path / "photos"), "--backgrounds",
            str(tmp_path / "bg"), "--cutouts", str(tmp_path / "cut"), "--long-side", "200"]
    assert main.main(args) == 0
    return tmp_path / out


def test_devset_is_regenerated_identically_and_evaluates(tmp_path: Path, capsys) -> None:
    make_photo_folder(tmp_path / "photos", count=40)
    _cutouts(tmp_path / "cut")
    _backgrounds(tmp_path / "bg")
    first, second = _make(tmp_path, "a"), _make(tmp_path, "b")
    for subset in ("labelme", "highres"):
        triplets = find_triplets(first / subset)
        assert triplets
        for triplet in triplets:
            twin = second / subset / triplet.composite.relative_to(first / subset)
            assert triplet.composite.read_bytes() == twin.read_bytes()
            composite, real = cv2.imread(str(triplet.composite)), cv2.imread(str(triplet.real))
            mask = cv2.imread(str(triplet.mask), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(composite[mask == 0], real[mask == 0])
            assert np.abs(composite[mask == 255].astype(int) - real[mask == 255]).mean() > 1
    assert max(cv2.imread(str(find_triplets(first / "highres")[0].composite)).shape[:2]) == 200
    capsys.readouterr()
    assert main.main(["evaluate", str(first / "labelme"), "--model", "classical"]) == 0
    assert "composite@256" in capsys.readouterr().out
