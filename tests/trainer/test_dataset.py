"""Tests for trainer.dataset: items, determinism, alignment, references and bad files."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import trainer.dataset as dataset_module
from engine.imageio import write_png
from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.sources import DataError, discover
from trainer.synthesis import SynthesisConfig

SIZE = 32
LEFT, RIGHT, PASTED = (0.2, 0.75, 0.25), (0.25, 0.3, 0.8), (0.9, 0.6, 0.1)
REGION_COLOURS = {"sky": (0.35, 0.55, 0.9), "tree": (0.2, 0.6, 0.2)}


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    if path.suffix == ".png":
        write_png(path, pixels)
    else:
        cv2.imwrite(str(path), pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])


def _write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, (mask * 255).astype(np.uint8))


def _textured(colour: tuple[float, float, float], seed: int, shape: tuple[int, int] = (40, 56)) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 0.06, (*shape, 3))
    return np.clip(np.array(colour) + noise, 0, 1)


def _box_mask(shape: tuple[int, int] = (40, 56)) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    mask[8:30, 10:40] = 1.0
    return mask


@pytest.fixture
def manifest_root(tmp_path: Path) -> Path:
    rows = []
    for i in range(12):
        region = "sky" if i % 2 else "trees"
        colour = REGION_COLOURS["sky" if i % 2 else "tree"]
        _write_rgb(tmp_path / "images" / f"p{i}.jpg", _textured(colour, i))
        _write_mask(tmp_path / "masks" / f"p{i}.png", _box_mask())
        rows.append(f"p{i},images/p{i}.jpg,masks/p{i}.png,{region},0.3")
    (tmp_path / "manifest.csv").write_text("name,image,mask,region,region_fraction\n" + "\n".join(rows) + "\n")
    return tmp_path


def _halves_root(root: Path) -> Path:
    """images+masks: left half LEFT (the mask), right half RIGHT."""
    image = np.zeros((40, 64, 3))
    image[:, :32], image[:, 32:] = LEFT, RIGHT
    mask = np.zeros((40, 64), np.float32)
    mask[:, :32] = 1
    for i in range(3):
        _write_rgb(root / "images" / f"h{i}.png", image)
        _write_mask(root / "masks" / f"h{i}.png", mask)
    return root


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in ("composite", "mask", "real")) and a["index"] == b["index"]


def test_items_have_the_promised_shapes_types_and_ranges(manifest_root: Path) -> None:
    dataset = HarmonizationDataset([discover(manifest_root)], "train", DataConfig(size=SIZE))
    assert len(dataset) == 11
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["composite"].shape == item["real"].shape == (3, SIZE, SIZE)
        assert item["mask"].shape == (1, SIZE, SIZE) and item["index"] == index
        for key in ("composite", "mask", "real"):
            assert item[key].dtype == torch.float32
            assert 0.0 <= float(item[key].min()) and float(item[key].max()) <= 1.0
        background = (item["mask"] == 0).expand(3, -1, -1)
        assert torch.equal(item["composite"][background], item["real"][background])
        assert not torch.equal(item["composite"], item["real"])


def test_same_seed_epoch_index_gives_identical_items(manifest_root: Path) -> None:
    source = discover(manifest_root)
    first = HarmonizationDataset([source], "train", DataConfig(size=SIZE))
    second = HarmonizationDataset([discover(manifest_root)], "train", DataConfig(size=SIZE))
    assert all(_same(first[3, i], second[3, i]) for i in range(len(first)))


def test_photos_only_items_are_the_unedited_photos_of_the_same_crops(
    manifest_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = HarmonizationDataset([discover(manifest_root)], "train", DataConfig(size=SIZE))
    expected = [edited[2, i] for i in range(len(edited))]

    def no_synthesis(*args: object) -> torch.Tensor:
        raise AssertionError("a photos-only item was synthesised")

    monkeypatch.setattr(dataset_module, "synthesize", no_synthesis)
    photos = HarmonizationDataset([discover(manifest_root)], "train", DataConfig(size=SIZE, photos_only=True))
    for index, want in enumerate(expected):
        item = photos[2, index]
        assert torch.equal(item["real"], want["real"]) and torch.equal(item["mask"], want["mask"])
        assert torch.equal(item["composite"], item["real"])


@pytest.fixture
def several_threads() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(max(saved, 2))
    yield
    torch.set_num_threads(saved)


@pytest.mark.usefixtures("several_threads")
def test_workers_give_the_same_batches_as_the_main_process(manifest_root: Path) -> None:
    # Images large enough for torch to split work across the main process's threads, while
    # workers run on one thread: the items must not depend on that.
    dataset = HarmonizationDataset([discover(manifest_root)], "train", DataConfig(size=160))
    keys = [(2, i) for i in range(len(dataset))]
    main = list(DataLoader(dataset, batch_size=4, sampler=keys, num_workers=0))
    workers = list(DataLoader(dataset, batch_size=4, sampler=keys, num_workers=2))
    assert len(main) == len(workers) == 3
    for a, b in zip(main, workers):
        assert all(torch.equal(a[k], b[k]) for k in ("composite", "mask", "real", "index"))


def test_training_items_change_with_the_epoch_validation_never(manifest_root: Path) -> None:
    source = discover(manifest_root, val_fraction=0.25)
    train = HarmonizationDataset([source], "train", DataConfig(size=SIZE))
    before = [train[i] for i in range(len(train))]
    assert not all(_same(a, train[1, i]) for i, a in enumerate(before))
    val = HarmonizationDataset([source], "val", DataConfig(size=SIZE))
    assert len(val) == 3
    reference = [val[i] for i in range(len(val))]
    again = HarmonizationDataset([discover(manifest_root, val_fraction=0.25)], "val", DataConfig(size=SIZE))
    assert all(_same(a, val[5, i]) and _same(a, again[i]) for i, a in enumerate(reference))


def test_crop_flip_and_resize_keep_image_and_mask_aligned(tmp_path: Path) -> None:
    source = discover(_halves_root(tmp_path), val_fraction=0.0)
    dataset = HarmonizationDataset([source], "train", DataConfig(size=SIZE))
    flipped = 0
    for epoch in range(8):
        for index in range(len(dataset)):
            item = dataset[epoch, index]
            mask, real = item["mask"][0], item["real"]
            inside, outside = mask > 0.99, mask < 0.01
            assert inside.any() and outside.any()
            assert torch.allclose(real[:, inside], torch.tensor(LEFT)[:, None], atol=0.02)
            assert torch.allclose(real[:, outside], torch.tensor(RIGHT)[:, None], atol=0.02)
            flipped += int(mask[:, -1].mean() > 0.5)
    assert 0 < flipped < 8 * len(dataset), "some items should be mirrored, not all"


def test_iharmony4_items_use_the_real_composites(tmp_path: Path) -> None:
    root = tmp_path / "HAdobe5k"
    real = np.zeros((40, 64, 3))
    real[:, :32], real[:, 32:] = LEFT, RIGHT
    composite = real.copy()
    composite[:, :32] = PASTED
    mask = np.zeros((40, 64), np.float32)
    mask[:, :32] = 1
    for r in range(3):
        _write_rgb(root / "real_images" / f"a{r}.png", real)
        _write_mask(root / "masks" / f"a{r}_1.png", mask)
        _write_rgb(root / "composite_images" / f"a{r}_1_1.png", composite)
    dataset = HarmonizationDataset([discover(root, val_fraction=0.0)], "train", DataConfig(size=SIZE))
    for index in range(len(dataset)):
        item = dataset[index]
        inside, outside = item["mask"][0] > 0.99, item["mask"][0] < 0.01
        assert torch.allclose(item["composite"][:, inside], torch.tensor(PASTED)[:, None], atol=0.02)
        assert torch.allclose(item["composite"][:, outside], torch.tensor(RIGHT)[:, None], atol=0.02)
        assert torch.allclose(item["real"][:, inside], torch.tensor(LEFT)[:, None], atol=0.02)
    photos = HarmonizationDataset([discover(root, val_fraction=0.0)], "train", DataConfig(size=SIZE, photos_only=True))
    assert all(torch.equal(photos[i]["composite"], photos[i]["real"]) for i in range(len(photos)))


def test_transfer_references_come_from_the_same_category(
    manifest_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    original = dataset_module.synthesize

    def spy(
        real: torch.Tensor,
        mask: torch.Tensor,
        rng: np.random.Generator,
        config: SynthesisConfig,
        reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        seen.append((real, None if reference is None else reference[0]))
        return original(real, mask, rng, config, reference)

    monkeypatch.setattr(dataset_module, "synthesize", spy)
    config = DataConfig(size=SIZE, synthesis=SynthesisConfig(retouch_probability=0.0))
    dataset = HarmonizationDataset([discover(manifest_root, val_fraction=0.0)], "train", config)
    for index in range(len(dataset)):
        dataset[index]
    assert all(reference is not None for _, reference in seen)
    for real, reference in seen:
        assert float((real.mean((1, 2)) - reference.mean((1, 2))).abs().max()) < 0.1


def test_a_corrupt_image_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(4):
        _write_rgb(tmp_path / "images" / f"good{i}.jpg", _textured(LEFT, i))
        _write_mask(tmp_path / "masks" / f"good{i}.png", _box_mask())
    (tmp_path / "images" / "bad.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    _write_mask(tmp_path / "masks" / "bad.png", _box_mask())
    dataset = HarmonizationDataset([discover(tmp_path, val_fraction=0.0)], "train", DataConfig(size=SIZE))
    with caplog.at_level(logging.WARNING, logger="trainer.data"):
        items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == 5 and all(item["composite"].shape == (3, SIZE, SIZE) for item in items)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "bad.jpg" in warnings[0]


def test_only_corrupt_images_raise_instead_of_looping(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "images" / f"bad{i}.jpg").write_bytes(b"garbage")
        _write_mask(tmp_path / "masks" / f"bad{i}.png", _box_mask())
    dataset = HarmonizationDataset([discover(tmp_path, val_fraction=0.0)], "train", DataConfig(size=SIZE))
    with pytest.raises(DataError, match="bad"):
        dataset[0]


def test_photos_get_generated_masks_and_shapes_are_used(tmp_path: Path) -> None:
    for i in range(4):
        _write_rgb(tmp_path / "photos" / f"p{i}.jpg", _textured(RIGHT, i, shape=(60, 80)))
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    alpha = np.zeros((30, 30), np.uint8)
    alpha[5:25, 10:20] = 255
    write_png(shapes / "bar.png", np.full((30, 30, 3), 100, np.uint8), alpha)
    source = discover(tmp_path / "photos", val_fraction=0.0)
    masks = []
    for config in (DataConfig(size=SIZE), DataConfig(size=SIZE, shapes=str(shapes))):
        dataset = HarmonizationDataset([source], "train", config)
        masks.append([])
        for index in range(len(dataset)):
            item = dataset[index]
            assert 0.02 < float(item["mask"].mean()) < 0.6
            assert not torch.equal(item["composite"], item["real"])
            masks[-1].append(item["mask"])
    assert not any(torch.equal(blob, silhouette) for blob, silhouette in zip(*masks))  # the silhouette was used


def test_masks_of_another_size_are_resized(tmp_path: Path) -> None:
    for i in range(2):
        _write_rgb(tmp_path / "images" / f"p{i}.jpg", _textured(LEFT, i))
        _write_mask(tmp_path / "masks" / f"p{i}.png", _box_mask((20, 28)))
    source = discover(tmp_path, val_fraction=0.5)
    for split in ("train", "val"):
        item = HarmonizationDataset([source], split, DataConfig(size=SIZE))[0]
        # the 20x28 box mask covers 0.39 of its photo; a generated mask would be a different share
        assert abs(float((item["mask"] > 0.5).float().mean()) - 22 * 30 / (40 * 56)) < 0.1 or split == "train"
        assert float(item["mask"].mean()) > 0.05


def test_several_sources_and_bad_arguments(manifest_root: Path, tmp_path: Path) -> None:
    photos = tmp_path / "more"
    for i in range(3):
        _write_rgb(photos / f"q{i}.jpg", _textured(RIGHT, i))
    sources = [discover(manifest_root, val_fraction=0.0), discover(photos, val_fraction=0.0)]
    dataset = HarmonizationDataset(sources, "train", DataConfig(size=SIZE))
    assert len(dataset) == 15
    assert dataset[14]["real"].shape == (3, SIZE, SIZE)
    assert [dataset[i]["kind"] for i in range(len(dataset))] == [0] * 12 + [1] * 3  # the folder each comes from
    with pytest.raises(IndexError):
        dataset[15]
    with pytest.raises(ValueError, match="split"):
        HarmonizationDataset(sources, "test", DataConfig())
    with pytest.raises(ValueError, match="size"):
        DataConfig(size=4)


def test_photos_are_decoded_once_and_kept_at_the_training_scale(tmp_path: Path, monkeypatch) -> None:
    from trainer import photo_cache

    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.jpg"), rng.integers(0, 255, (600, 900, 3), dtype=np.uint8))
    reads: list[str] = []
    real_read = photo_cache.read_image
    monkeypatch.setattr(photo_cache, "read_image", lambda path: reads.append(str(path)) or real_read(path))
    dataset = HarmonizationDataset([discover(folder, val_fraction=0.0)], "train", DataConfig(size=32))
    for epoch in range(3):
        items = [dataset[epoch, i] for i in range(len(dataset))]
    assert sorted(reads) == sorted(str(folder / f"p{i}.jpg") for i in range(3))
    assert all(item["real"].shape == (3, 32, 32) for item in items)
    kept = dataset._photos.load(folder / "p0.jpg").rgb
    assert min(kept.shape[:2]) == round(32 * photo_cache.MARGIN)
