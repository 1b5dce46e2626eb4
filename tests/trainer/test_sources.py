"""Tests for trainer.sources: recognising data folders and splitting their samples."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.imageio import write_png
from engine.data_location import data_path
from trainer.sources import DataError, category_from_name, discover, normalize_region, split_indices

LABELME = data_path("labelme_regions")


def _photo(path: Path, alpha: np.ndarray | None = None, size: tuple[int, int] = (12, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(len(path.name)).integers(0, 256, (*size, 3), dtype=np.uint8)
    if path.suffix == ".png":
        write_png(path, rgb, alpha)
    else:
        cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


def _mask(path: Path, size: tuple[int, int] = (12, 16)) -> Path:
    mask = np.zeros(size, np.uint8)
    mask[2:8, 3:9] = 255
    write_png(_mkdir(path), mask)
    return path


def _mkdir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _partial_alpha(size: tuple[int, int] = (12, 16)) -> np.ndarray:
    alpha = np.zeros(size, np.uint8)
    alpha[3:9, 4:12] = 255
    return alpha


def test_photos_folder_split_is_fixed_by_seed_and_disjoint(tmp_path: Path) -> None:
    for i in range(20):
        _photo(tmp_path / f"photo{i:02d}.jpg")
    source = discover(tmp_path, val_fraction=0.1, seed=3)
    assert source.kind == "photos"
    assert all(s.mask is None and s.mask_source == "generated" and s.composite is None for s in source.train)
    train, val = {s.real for s in source.train}, {s.real for s in source.val}
    assert len(val) == 2 and not train & val and len(train | val) == 20
    again = discover(tmp_path, val_fraction=0.1, seed=3)
    assert [s.real for s in again.val] == [s.real for s in source.val]
    assert {s.real for s in discover(tmp_path, val_fraction=0.1, seed=4).val} != val
    assert "20 photos" in source.description and "18 train / 2 val" in source.description


def test_split_keeps_at_least_one_validation_sample() -> None:
    train, val = split_indices(2, 0.05, seed=0)
    assert len(val) == 1 and sorted(train + val) == [0, 1]
    assert split_indices(1, 0.05, seed=0) == ([0], [])
    assert split_indices(10, 0.0, seed=0) == (list(range(10)), [])


def test_hidden_files_are_ignored(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "b.jpg")
    _photo(tmp_path / ".hidden.jpg")
    (tmp_path / "._a.jpg").write_bytes(b"resource fork")
    source = discover(tmp_path)
    assert sorted(s.real.name for s in source.train + source.val) == ["a.jpg", "b.jpg"]


def test_rgba_cutouts_are_recognised(tmp_path: Path) -> None:
    for name in ("fox.png", "pear.png", "van.png"):
        _photo(tmp_path / name, alpha=_partial_alpha())
    source = discover(tmp_path)
    assert source.kind == "rgba"
    assert all(s.mask is None and s.mask_source == "alpha" for s in source.train + source.val)


@pytest.mark.parametrize("odd_one", ["opaque", "no_alpha"])
def test_folder_with_any_image_lacking_a_used_alpha_is_photos(tmp_path: Path, odd_one: str) -> None:
    _photo(tmp_path / "fox.png", alpha=_partial_alpha())
    if odd_one == "opaque":
        for i in range(3):
            _photo(tmp_path / f"opaque{i}.png", alpha=np.full((12, 16), 255, np.uint8))
    else:
        _photo(tmp_path / "plain.jpg")
    assert discover(tmp_path).kind == "photos"


def test_images_and_masks_are_paired_by_stem(tmp_path: Path) -> None:
    for stem in ("a", "b", "c"):
        _photo(tmp_path / "images" / f"{stem}.jpg")
        _mask(tmp_path / "masks" / f"{stem}.png")
    source = discover(tmp_path)
    assert source.kind == "images+masks"
    samples = source.train + source.val
    assert len(samples) == 3
    assert all(s.mask is not None and s.mask.stem == s.real.stem and s.mask_source == "file" for s in samples)


@pytest.mark.parametrize(("stem", "category"), [
    ("camvid_0001TP_006720_car", "car"), ("camvid_Seq05VD_f05100_road", "road"), ("bear_00006", "bear"),
    ("horse_horse328", "horse"), ("cat_valid_group1092_ccdb054f", "cat"), ("car-roundabout_00012", "car"),
    ("IMG_0042", "img"), ("0042", "0042"),
])
def test_category_from_name(stem: str, category: str) -> None:
    assert category_from_name(stem) == category


def test_images_and_masks_get_categories_from_their_names(tmp_path: Path) -> None:
    for stem in ("street_01_car", "street_02_car", "street_03_road", "horse_004"):
        _photo(tmp_path / "images" / f"{stem}.jpg")
        _mask(tmp_path / "masks" / f"{stem}.png")
    source = discover(tmp_path, val_fraction=0.0)
    assert sorted(s.region for s in source.train) == ["car", "car", "horse", "road"]
    assert "3 categories" in source.description


def test_images_without_masks_are_listed(tmp_path: Path) -> None:
    for i in range(7):
        _photo(tmp_path / "images" / f"img{i}.jpg")
    _mask(tmp_path / "masks" / "img0.png")
    with pytest.raises(DataError) as err:
        discover(tmp_path)
    message = str(err.value)
    assert "6 image(s)" in message and "img1.jpg" in message and "img5.jpg" in message
    assert "img6.jpg" not in message and "1 more" in message


def _write_manifest(root: Path, rows: list[str]) -> None:
    (root / "manifest.csv").write_text("name,image,mask,region,region_fraction\n" + "\n".join(rows) + "\n")


def test_manifest_paths_and_regions(tmp_path: Path) -> None:
    labels = ["trees", "carLeft", "Sky", '"building, edifice"', "car side az180deg", "tree"]
    rows = []
    for i, label in enumerate(labels):
        _photo(tmp_path / "images" / f"p{i}.jpg")
        _mask(tmp_path / "masks" / f"p{i}.png")
        rows.append(f"p{i},images/p{i}.jpg,masks/p{i}.png,{label},0.2")
    _write_manifest(tmp_path, rows)
    source = discover(tmp_path, val_fraction=0.0)
    assert source.kind == "manifest" and source.val == []
    by_name = {s.real.name: s for s in source.train}
    assert by_name["p0.jpg"].mask == tmp_path / "masks" / "p0.png"
    assert [by_name[f"p{i}.jpg"].region for i in range(6)] == ["tree", "car", "sky", "building", "car", "tree"]
    assert all(s.mask_source == "file" for s in source.train)


def test_manifest_tolerates_extra_values_and_absolute_paths(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "elsewhere" / "p.jpg")
    _mask(tmp_path / "masks" / "p.png")
    (tmp_path / "manifest.csv").write_text(f"image,mask,region\n{photo},masks/p.png,sky,0.3,extra\n")
    (sample,) = discover(tmp_path).train
    assert sample.real == photo and sample.mask == tmp_path / "masks" / "p.png" and sample.region == "sky"


def test_manifest_with_missing_files_names_them(tmp_path: Path) -> None:
    _photo(tmp_path / "images" / "p0.jpg")
    _write_manifest(tmp_path, ["p0,images/p0.jpg,masks/p0.png,sky,0.3"])
    with pytest.raises(DataError, match="p0.png"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("trees", "tree"), ("carLeft", "car"), ("carRight", "car"), ("Buildings", "building"), ("grass", "grass"),
     ("sea water", "sea water"), ("bushes", "bush"), ("truck (rear)", "truck"), ("", None)],
)
def test_normalize_region(label: str, expected: str | None) -> None:
    assert normalize_region(label) == expected


def _iharmony_subset(root: Path, reals: int = 4, per_real: int = 2) -> list[str]:
    names = []
    for r in range(reals):
        _photo(root / "real_images" / f"a{r:04d}.jpg")
        _mask(root / "masks" / f"a{r:04d}_1.png")
        for n in range(1, per_real + 1):
            names.append(f"a{r:04d}_1_{n}")
            _photo(root / "composite_images" / f"a{r:04d}_1_{n}.jpg")
    return names


def test_iharmony_lists_are_respected(tmp_path: Path) -> None:
    root = tmp_path / "HAdobe5k"
    names = _iharmony_subset(root)
    (root / "HAdobe5k_train.txt").write_text("\n".join(f"{n}.jpg" for n in names[:5]) + "\n")
    (root / "HAdobe5k_test.txt").write_text("\n".join(f"{n}.jpg" for n in names[5:]) + "\n")
    source = discover(root)
    assert source.kind == "iharmony4"
    assert [s.composite.stem for s in source.train] == names[:5]
    assert [s.composite.stem for s in source.val] == names[5:]
    first = source.train[0]
    assert first.real.name == "a0000.jpg" and first.mask.name == "a0000_1.png" and first.mask_source == "iharmony4"


def test_folder_of_iharmony_subsets_is_merged(tmp_path: Path) -> None:
    a = _iharmony_subset(tmp_path / "HCOCO", reals=3)
    b = _iharmony_subset(tmp_path / "HFlickr", reals=2)
    source = discover(tmp_path, val_fraction=0.3)
    assert source.kind == "iharmony4" and source.root == tmp_path
    assert len(source.train) + len(source.val) == len(a) + len(b)
    assert "2 subsets" in source.description


def test_iharmony_without_lists_splits_by_real_photo(tmp_path: Path) -> None:
    _iharmony_subset(tmp_path / "Hday2night", reals=10, per_real=3)
    source = discover(tmp_path / "Hday2night", val_fraction=0.2, seed=1)
    train_reals = {s.real for s in source.train}
    val_reals = {s.real for s in source.val}
    assert len(val_reals) == 2 and not train_reals & val_reals
    assert len(source.val) == 6


def test_missing_and_empty_folders_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist.*accepted layouts"):
        discover(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no image.*accepted layouts"):
        discover(tmp_path / "empty")


@pytest.mark.skipif(not LABELME.is_dir(), reason=f"needs the real data: {LABELME} is absent (set HARMONIZER_DATA)")
def test_labelme_regions_is_a_manifest() -> None:
    source = discover(LABELME)
    assert source.kind == "manifest"
    samples = source.train + source.val
    assert len(samples) == 1999 and len(source.val) == 100
    regions = {s.region for s in samples}
    assert {"sky", "tree", "car", "building", "road", "mountain"} <= regions
    assert not regions & {"trees", "carLeft", "carleft", "Sky", "buildings"}
    assert source.description.startswith("manifest: 1,999 photos")
