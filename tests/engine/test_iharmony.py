"""Tests for engine.iharmony (iHarmony4 folder layout)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.iharmony import (
    IMAGE_EXTENSIONS,
    LayoutError,
    Triplet,
    find_triplets,
    is_iharmony_root,
    mask_stem,
    real_stem,
    subset_lists,
)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _make_root(tmp_path: Path) -> Path:
    """Three composites over two real images, with assorted extensions."""
    root = tmp_path / "HAdobe5k"
    for name in ("a0002_1_4.jpg", "a0002_1_5.PNG", "a0003_2_1.tif"):
        _touch(root / "composite_images" / name)
    for name in ("a0002_1.png", "a0003_2.bmp"):
        _touch(root / "masks" / name)
    for name in ("a0002.jpg", "a0003.webp"):
        _touch(root / "real_images" / name)
    return root


def test_image_extensions_are_lowercase_with_dot() -> None:
    assert ".jpg" in IMAGE_EXTENSIONS and ".png" in IMAGE_EXTENSIONS
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


def test_stems() -> None:
    assert mask_stem("a0002_1_4") == "a0002_1"
    assert real_stem("a0002_1_4") == "a0002"
    assert real_stem("my_photo_3_12") == "my_photo"
    assert mask_stem("d0001-1.5_2_1") == "d0001-1.5_2"


@pytest.mark.parametrize("stem", ["photo", "photo_1", "a__1", "_1_2", "a_1_"])
def test_bad_stem_pattern(stem: str) -> None:
    with pytest.raises(LayoutError, match="<real>_<mask>_<n>"):
        mask_stem(stem)
    with pytest.raises(LayoutError, match="<real>_<mask>_<n>"):
        real_stem(stem)


def test_is_iharmony_root(tmp_path: Path) -> None:
    root = _make_root(tmp_path)

    assert is_iharmony_root(root)
    assert not is_iharmony_root(tmp_path)
    assert not is_iharmony_root(tmp_path / "missing")


def test_find_triplets_sorted_with_mixed_extensions(tmp_path: Path) -> None:
    root = _make_root(tmp_path)

    triplets = find_triplets(root)

    assert triplets == [
        Triplet(
            "a0002_1_4",
            root / "composite_images" / "a0002_1_4.jpg",
            root / "masks" / "a0002_1.png",
            root / "real_images" / "a0002.jpg",
        ),
        Triplet(
            "a0002_1_5",
            root / "composite_images" / "a0002_1_5.PNG",
            root / "masks" / "a0002_1.png",
            root / "real_images" / "a0002.jpg",
        ),
        Triplet(
            "a0003_2_1",
            root / "composite_images" / "a0003_2_1.tif",
            root / "masks" / "a0003_2.bmp",
            root / "real_images" / "a0003.webp",
        ),
    ]


def test_find_triplets_accepts_str_and_ignores_non_images(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    _touch(root / "composite_images" / "notes.txt")
    _touch(root / "composite_images" / "._a0002_1_4.jpg")
    (root / "composite_images" / "sub.jpg").mkdir()

    assert [t.name for t in find_triplets(str(root))] == ["a0002_1_4", "a0002_1_5", "a0003_2_1"]


def test_triplet_is_frozen(tmp_path: Path) -> None:
    triplet = find_triplets(_make_root(tmp_path))[0]

    with pytest.raises(AttributeError):
        triplet.name = "other"  # type: ignore[misc]


def test_list_file_with_prefixes_and_mismatched_extensions(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    list_file = _touch(root / "HAdobe5k_test.txt")
    list_file.write_text(
        "composite_images/a0003_2_1.jpg\n"
        "\n"
        "  a0002_1_5.jpg  \n"
        "HAdobe5k/composite_images/a0002_1_4.png\n"
        "   \n"
    )

    triplets = find_triplets(root, list_file)

    assert [t.name for t in triplets] == ["a0003_2_1", "a0002_1_5", "a0002_1_4"]
    assert triplets[0].composite == root / "composite_images" / "a0003_2_1.tif"
    assert triplets[1].composite == root / "composite_images" / "a0002_1_5.PNG"


def test_list_file_relative_to_root(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    (root / "HAdobe5k_train.txt").write_text("a0002_1_4.jpg\n")

    assert [t.name for t in find_triplets(root, "HAdobe5k_train.txt")] == ["a0002_1_4"]


def test_list_entry_without_extension_or_with_windows_prefix(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    list_file = tmp_path / "list.txt"
    list_file.write_text("a0002_1_4\ncomposite_images\\a0003_2_1.JPG\n")

    assert [t.name for t in find_triplets(root, list_file)] == ["a0002_1_4", "a0003_2_1"]


def test_listed_composite_missing_on_disk(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    list_file = tmp_path / "list.txt"
    list_file.write_text("a0002_1_4.jpg\na0009_1_1.jpg\n")

    with pytest.raises(LayoutError, match=r"1 composite listed in .*a0009_1_1"):
        find_triplets(root, list_file)


def test_missing_list_file(tmp_path: Path) -> None:
    root = _make_root(tmp_path)

    with pytest.raises(LayoutError, match="nothere.txt"):
        find_triplets(root, tmp_path / "nothere.txt")


def test_empty_list_file(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    list_file = tmp_path / "list.txt"
    list_file.write_text("\n  \n")

    with pytest.raises(LayoutError, match="names no composite"):
        find_triplets(root, list_file)


def test_missing_mask(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    (root / "masks" / "a0002_1.png").unlink()

    with pytest.raises(LayoutError) as info:
        find_triplets(root)

    message = str(info.value)
    assert "2 composites without a mask" in message
    assert "masks" in message
    assert "a0002_1_4 (expects a0002_1.*)" in message
    assert "a0002_1_5" in message
    assert "a0003_2_1" not in message


def test_missing_real_image(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    (root / "real_images" / "a0003.webp").unlink()

    with pytest.raises(LayoutError, match=r"1 composite without a real image .*a0003_2_1"):
        find_triplets(root)


def test_missing_examples_are_capped_at_five(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    for index in range(8):
        _touch(root / "composite_images" / f"z{index}_1_1.jpg")
        _touch(root / "masks" / f"z{index}_1.png")

    with pytest.raises(LayoutError) as info:
        find_triplets(root)

    message = str(info.value)
    assert "8 composites without a real image" in message
    assert "z4_1_1" in message and "z5_1_1" not in message
    assert "and 3 more" in message


def test_missing_folder(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    for path in (root / "real_images").iterdir():
        path.unlink()
    (root / "real_images").rmdir()

    with pytest.raises(LayoutError, match="real_images"):
        find_triplets(root)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="does not exist"):
        find_triplets(tmp_path / "nowhere")


def test_empty_composite_folder(tmp_path: Path) -> None:
    for sub in ("composite_images", "masks", "real_images"):
        (tmp_path / sub).mkdir()

    with pytest.raises(LayoutError, match="no images"):
        find_triplets(tmp_path)


def test_bad_name_pattern_in_folder(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    _touch(root / "composite_images" / "photo.jpg")

    with pytest.raises(LayoutError, match=r"1 composite .*<real>_<mask>_<n>.*photo"):
        find_triplets(root)


def test_ambiguous_stem(tmp_path: Path) -> None:
    root = _make_root(tmp_path)
    _touch(root / "masks" / "a0003_2.png")

    with pytest.raises(LayoutError, match=r"ambiguous.*a0003_2\.bmp, a0003_2\.png"):
        find_triplets(root)


def test_layout_error_is_value_error() -> None:
    assert issubclass(LayoutError, ValueError)


def test_subset_lists(tmp_path: Path) -> None:
    for name in ("HCOCO_train.txt", "HAdobe5k_train.txt", "HAdobe5k_test.txt", "train.txt"):
        _touch(tmp_path / name)
    (tmp_path / "odd_train.txt").mkdir()

    assert subset_lists(tmp_path, "train") == [
        tmp_path / "HAdobe5k_train.txt",
        tmp_path / "HCOCO_train.txt",
    ]
    assert subset_lists(tmp_path, "test") == [tmp_path / "HAdobe5k_test.txt"]
    assert subset_lists(tmp_path, "val") == []
