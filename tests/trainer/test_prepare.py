"""The prepared cache: scaled photos, aligned masks, kept categories and splits, training from it, errors."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.imageio import read_image, read_mask
from harmonizer_cli import program
from tests.trainer.conftest import TINY_RUN
from trainer.photo_cache import MARGIN
from trainer.prepare import prepare
from trainer.prepared import INDEX, expand_data, read_index
from trainer.sources import DataError, DataSource, discover

SIZE = 64  # photos' shorter sides become SIZE * MARGIN = 80 px
SHAPES = [(120, 200), (200, 96), (64, 64), (150, 150), (90, 180), (160, 100)]  # (H, W)
CATEGORIES = ["cat", "horse", "car"]


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.float32)
    image[: height // 2] = rng.uniform(100, 220, 3)
    image[height // 2 :] = rng.uniform(30, 120, 3)
    return np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


def _box_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height * 3 // 4, width // 3 : width * 2 // 3] = 255
    return mask


def _images_masks(root: Path) -> Path:
    """``images/`` + ``masks/`` named ``<category>_<n>``, of several shapes."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(12):
        height, width = SHAPES[i % len(SHAPES)]
        name = f"{CATEGORIES[i % len(CATEGORIES)]}_{i:03d}"
        cv2.imwrite(str(root / "images" / f"{name}.jpg"), _photo(height, width, i))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), _box_mask(height, width))
    return root


def _manifest(root: Path) -> Path:
    """``manifest.csv`` with free-text region labels; one photo has two regions."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    lines = ["name,image,mask,region,region_fraction"]
    labels = ["trees", "sky", "carLeft", "building"]
    for i in range(10):
        height, width = SHAPES[i % len(SHAPES)]
        cv2.imwrite(str(root / "images" / f"img_{i}.png"), _photo(height, width, 100 + i))
        cv2.imwrite(str(root / "masks" / f"img_{i}.png"), _box_mask(height, width))
        lines.append(f"img_{i},images/img_{i}.png,masks/img_{i}.png,{labels[i % 4]},0.2")
    cv2.imwrite(str(root / "masks" / "img_0_b.png"), 255 - _box_mask(*SHAPES[0]))
    lines.append("img_0_b,images/img_0.png,masks/img_0_b.png,sky,0.8")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def _rgba(root: Path) -> Path:
    root.mkdir(parents=True)
    for i, (height, width) in enumerate(SHAPES[:4]):
        pixels = np.dstack([_photo(height, width, 200 + i), _box_mask(height, width)])
        cv2.imwrite(str(root / f"cutout_{i}.png"), pixels)
    return root


def _photos(root: Path) -> Path:
    root.mkdir(parents=True)
    for i, (height, width) in enumerate(SHAPES[:4]):
        cv2.imwrite(str(root / f"holiday_{i}.jpg"), _photo(height, width, 300 + i))
    return root


@pytest.fixture
def sources(tmp_path: Path) -> list[Path]:
    data = tmp_path / "data"
    return [_manifest(data / "regions"), _images_masks(data / "objects"), _rgba(data / "cutouts"), _photos(data / "holiday")]


@pytest.fixture
def cache(sources: list[Path], tmp_path: Path) -> Path:
    prepare(sources, tmp_path / "cache", SIZE)
    return tmp_path / "cache"


def _by_stem(source: DataSource) -> dict[str, object]:
    return {(s.mask or s.real).stem: s for s in source.train + source.val}


def test_photos_shrink_to_the_shorter_side_and_are_never_enlarged(sources: list[Path], cache: Path) -> None:
    short = round(SIZE * MARGIN)
    for origin in sources:
        for name, sample in _by_stem(discover(cache / origin.name)).items():
            before = read_image(_by_stem(discover(origin))[name].real)
            after = read_image(sample.real)
            assert sample.real.suffix == ".jpg"
            assert min(after.height, after.width) == min(short, before.height, before.width)
            ratio = (after.width / after.height) / (before.width / before.height)
            assert ratio == pytest.approx(1.0, abs=0.02)


def test_masks_match_their_photos_size_and_place(sources: list[Path], cache: Path) -> None:
    original = _by_stem(discover(sources[0]))
    for name, sample in _by_stem(discover(cache / "regions")).items():
        image = read_image(sample.real)
        mask = read_mask(sample.mask)
        assert sample.mask.suffix == ".png" and mask.shape == (image.height, image.width)
        expected = cv2.resize(read_mask(original[name].mask), mask.shape[::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(mask - expected).mean() < 0.02


def test_rgba_alpha_becomes_a_mask_file_and_plain_photos_keep_generated_masks(cache: Path) -> None:
    cutouts = discover(cache / "cutouts")
    assert cutouts.kind == "manifest"
    for sample in cutouts.train + cutouts.val:
        assert sample.mask_source == "file"
        assert 0.1 < read_mask(sample.mask).mean() < 0.5
    holiday = discover(cache / "holiday")
    assert {s.mask_source for s in holiday.train + holiday.val} == {"generated"}


def test_regions_and_file_name_categories_survive(sources: list[Path], cache: Path) -> None:
    for origin in sources[:2]:
        before = {name: s.region for name, s in _by_stem(discover(origin)).items()}
        after = {name: s.region for name, s in _by_stem(discover(cache / origin.name)).items()}
        assert after == before and None not in after.values()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("folder", ["regions", "objects", "holiday"])
def test_the_held_out_photos_are_the_original_folders_ones(sources: list[Path], cache: Path, seed: int, folder: str) -> None:
    origin = next(path for path in sources if path.name == folder)

    def held_out(path: Path) -> list[str]:
        return [s.real.stem for s in discover(path, val_fraction=0.3, seed=seed).val]

    assert held_out(cache / folder) == held_out(origin) and held_out(origin)


def test_index_records_the_settings_and_every_source(sources: list[Path], cache: Path) -> None:
    index = read_index(cache)
    assert (index.size, index.short_side, index.quality) == (SIZE, round(SIZE * MARGIN), 85)
    assert [(s.name, s.origin, s.layout) for s in index.sources] == [
        ("regions", str(sources[0]), "manifest"),
        ("objects", str(sources[1]), "images+masks"),
        ("cutouts", str(sources[2]), "rgba"),
        ("holiday", str(sources[3]), "photos"),
    ]
    assert [(s.photos, s.samples) for s in index.sources] == [(10, 11), (12, 12), (4, 4), (4, 4)]
    assert json.loads((cache / INDEX).read_text())["version"] == 1


def test_a_cache_stands_for_its_sources_and_warns_when_training_is_larger(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = tmp_path / "data" / "holiday"
    with caplog.at_level(logging.WARNING):
        assert expand_data([cache, other], SIZE) == [cache / n for n in ("regions", "objects", "cutouts", "holiday")] + [other]
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        expand_data([cache], SIZE * 2)
    assert "exceeds the size" in caplog.text


def test_a_cache_trains(sources: list[Path], tmp_path: Path) -> None:
    cache = tmp_path / "small"
    assert program.main(["prepare", *map(str, sources[:2]), "--out", str(cache), "--size", "32"]) == 0
    run = tmp_path / "run"
    assert program.main(["train", "--data", str(cache), "--out", str(run), *TINY_RUN, "--steps", "2"]) == 0
    assert (run / "last.safetensors").is_file()


def test_same_folder_names_get_numbered_sub_folders(tmp_path: Path) -> None:
    first, second = _photos(tmp_path / "a" / "photos"), _photos(tmp_path / "b" / "photos")
    index = prepare([first, second], tmp_path / "cache", SIZE)
    assert [s.name for s in index.sources] == ["photos", "photos_2"]


def test_names_that_would_collide_are_refused(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos")
    cv2.imwrite(str(folder / "holiday_0.png"), _photo(80, 80, 0))
    with pytest.raises(DataError, match="would both become holiday_0.jpg"):
        prepare([folder], tmp_path / "cache", SIZE)


def _prepare_cli(*args: str) -> int:
    return program.main(["prepare", *args])


def test_bad_input_exits_2_with_a_clear_message(
    sources: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cache"
    assert _prepare_cli(str(tmp_path / "missing"), "--out", str(out)) == 2
    assert "missing does not exist" in capsys.readouterr().err

    (sources[1] / "images" / "cat_000.jpg").write_bytes(b"not a JPEG")
    assert _prepare_cli(str(sources[1]), "--out", str(out)) == 2
    assert 'cannot read "' in capsys.readouterr().err and not (out / INDEX).exists()

    assert _prepare_cli(str(sources[0]), "--out", str(out)) == 2
    assert "is not empty" in capsys.readouterr().err

    assert _prepare_cli(str(sources[0]), "--out", str(tmp_path / "again")) == 0
    assert _prepare_cli(str(tmp_path / "again"), "--out", str(tmp_path / "twice")) == 2
    assert "is a prepared cache already" in capsys.readouterr().err

    assert _prepare_cli(str(sources[0]), "--out", str(tmp_path / "other"), "--size", "4") == 2
    assert "size must be at least 8" in capsys.readouterr().err


def test_iharmony4_folders_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "HFlickr"
    for sub in ("composite_images", "masks", "real_images"):
        (root / sub).mkdir(parents=True)
    cv2.imwrite(str(root / "real_images" / "a0001.jpg"), _photo(80, 80, 0))
    cv2.imwrite(str(root / "masks" / "a0001_1.png"), _box_mask(80, 80))
    cv2.imwrite(str(root / "composite_images" / "a0001_1_1.jpg"), _photo(80, 80, 1))
    assert _prepare_cli(str(root), "--out", str(tmp_path / "cache")) == 2
    assert "iHarmony4 folder" in capsys.readouterr().err
