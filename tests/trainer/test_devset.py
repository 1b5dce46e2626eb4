from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.iharmony import find_triplets
from harmonizer_cli import program
from tests.trainer.conftest import make_photo_folder
from trainer.devset import PARTS


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


def _objects(folder: Path) -> Path:
    """Two sources of images/ + masks/, one of them with two categories named in the file names."""
    rng = np.random.default_rng(1)
    for source, names in (("street", ["s_01_car", "s_02_car", "s_03_road", "s_04_road"] * 5),
                          ("horses", [f"horse_{i:03d}" for i in range(20)])):
        for sub in ("images", "masks"):
            (folder / source / sub).mkdir(parents=True)
        for i, name in enumerate(names):
            photo = np.full((48, 64, 3), rng.integers(40, 200, 3), np.uint8)
            mask = np.zeros((48, 64), np.uint8)
            cv2.rectangle(mask, (10, 8), (40, 36), 255, -1)
            photo[mask > 0] = rng.integers(0, 255, 3)
            cv2.imwrite(str(folder / source / "images" / f"{name}_{i}.jpg"), photo)
            cv2.imwrite(str(folder / source / "masks" / f"{name}_{i}.png"), mask)
    return folder


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    make_photo_folder(root / "labelme_regions", count=40)
    _cutouts(root / "cutouts")
    _backgrounds(root / "backgrounds")
    _objects(root / "objects")
    return root


def _make(data: Path, out: Path) -> Path:
    assert program.main(["devset", str(out), "--data", str(data), "--long-side", "200"]) == 0
    return out


def test_devset_is_regenerated_identically_and_evaluates(data: Path, tmp_path: Path, capsys) -> None:
    first, second = _make(data, tmp_path / "a"), _make(data, tmp_path / "b")
    for part in PARTS:
        triplets = find_triplets(first / part)
        assert triplets
        for triplet in triplets:
            twin = second / part / triplet.composite.relative_to(first / part)
            assert triplet.composite.read_bytes() == twin.read_bytes()
            composite, real = cv2.imread(str(triplet.composite)), cv2.imread(str(triplet.real))
            mask = cv2.imread(str(triplet.mask), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(composite[mask == 0], real[mask == 0])
            change = np.abs(composite[mask == 255].astype(int) - real[mask == 255]).mean()
            assert change == 0 if part == "identity" else change > 1
    assert max(cv2.imread(str(find_triplets(first / "highres")[0].composite)).shape[:2]) == 200
    capsys.readouterr()
    assert program.main(["evaluate", str(first / "labelme"), "--model", "classical"]) == 0
    assert "composite@256" in capsys.readouterr().out


def test_identity_part_holds_out_photos_of_every_source(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev"
    assert program.main(["devset", str(out), "--data", str(data), "--part", "identity"]) == 0
    names = [t.name for t in find_triplets(out / "identity")]
    assert {n.split("-")[0] for n in names} == {"labelme_regions", "street", "horses"}
    assert not (out / "labelme").exists()


def test_missing_data_is_a_clear_error_not_a_traceback(tmp_path: Path, capsys) -> None:
    code = program.main(["devset", str(tmp_path / "dev"), "--data", str(tmp_path / "nowhere")])
    assert code == 2
    message = capsys.readouterr().err
    assert "labelme_regions not found" in message and "HARMONIZER_DATA" in message
