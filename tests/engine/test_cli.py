"""Tests for the command line (``harmonize`` and ``evaluate``), through the program's ``main``."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import engine.harmonizer
from engine.checkpoint import save_checkpoint
from engine.model.generator import GeneratorConfig, SCSCoGenerator
from harmonizer_cli.program import main

HEIGHT, WIDTH = 48, 64
BACKGROUND_COLOUR = (110.0, 140.0, 110.0)  # grey-green
TINT = (1.5, 0.6, 0.6)  # a strongly red foreground


# ---------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() calls logging.basicConfig; keep a stderr handler it adds from outliving the test."""
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if type(h) is logging.StreamHandler and h not in before]:
        root.removeHandler(handler)
    root.setLevel(level)


def texture(seed: int = 0) -> np.ndarray:
    """Float ``(H, W, 3)`` grey-green random texture on the 0-255 scale."""
    rng = np.random.default_rng(seed)
    return np.asarray(BACKGROUND_COLOUR) + rng.normal(0.0, 12.0, size=(HEIGHT, WIDTH, 3))


def box_mask(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """uint8 0/255 mask with a rectangle in the middle."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    return mask


def tinted(real: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``real`` (float, 0-255) with its masked foreground tinted, as uint8."""
    out = np.where(mask[..., None] > 0, real * np.asarray(TINT), real)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Write RGB, RGBA or grey pixels (uint8 or uint16) with OpenCV, independently of engine.imageio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3:
        order = [2, 1, 0] if pixels.shape[2] == 3 else [2, 1, 0, 3]
        pixels = pixels[:, :, order]
    assert cv2.imwrite(str(path), np.ascontiguousarray(pixels))
    return path


def read_rgb(path: Path) -> np.ndarray:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, f"{path} is not a readable image"
    return np.ascontiguousarray(pixels[:, :, 2::-1])


def write_composite(path: Path, seed: int = 0) -> Path:
    return write_image(path, tinted(texture(seed), box_mask()))


def make_pair(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """``folder/comp.png`` (tinted foreground) and ``folder/mask.png``."""
    return write_composite(folder / "comp.png", seed), write_image(folder / "mask.png", box_mask())


def write_garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a PNG at all \x00\x01\x02" * 20)
    return path


def foreground_distance(image: np.ndarray, mask: np.ndarray) -> float:
    """Distance of the foreground's mean colour from the background's mean colour."""
    fg, bg = mask > 0, mask == 0
    return float(np.linalg.norm(image[fg].astype(np.float64).mean(axis=0) - image[bg].astype(np.float64).mean(axis=0)))


def tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    config = GeneratorConfig(
        base="classical", width=4, max_width=8, depth=3, working_size=32, grid=8, bain_key_dim=4, bain_pool=4
    )
    save_checkpoint(path, SCSCoGenerator(config), metadata={"note": "test"})
    return path


def harmonize(*args: str | Path) -> int:
    return main(["harmonize", *map(str, args), "--device", "cpu"])


# ---------------------------------------------------------------------------------------------
# harmonize: one file


def test_classical_harmonize_keeps_the_background_and_moves_the_foreground(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"

    assert harmonize(composite, mask, "-o", out, "--model", "classical") == 0

    assert str(out) in capsys.readouterr().out
    original, result = read_rgb(composite), read_rgb(out)
    assert result.shape == original.shape and result.dtype == np.uint8
    background = box_mask() == 0
    assert np.array_equal(result[background], original[background])
    before = foreground_distance(original, box_mask())
    after = foreground_distance(result, box_mask())
    assert after < before / 2, (before, after)


def test_strength_zero_leaves_the_composite_unchanged(tmp_path: Path) -> None:
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"
    assert harmonize(composite, mask, "-o", out, "--model", "classical", "--strength", "0") == 0
    assert np.array_equal(read_rgb(out), read_rgb(composite))


def test_alpha_channel_is_the_mask_when_none_is_given(tmp_path: Path) -> None:
    mask = box_mask()
    rgb = tinted(texture(), mask)
    composite = write_image(tmp_path / "comp.png", np.dstack((rgb, mask)))
    out = tmp_path / "out.png"

    assert harmonize(composite, "-o", out, "--model", "classical") == 0

    result = read_rgb(out)
    assert np.array_equal(result[mask == 0], rgb[mask == 0])
    assert foreground_distance(result, mask) < foreground_distance(rgb, mask) / 2


def test_rgb_composite_without_a_mask_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    composite, _ = make_pair(tmp_path)
    out = tmp_path / "out.png"

    assert harmonize(composite, "-o", out, "--model", "classical") == 2

    err = capsys.readouterr().err
    assert "alpha channel" in err and "comp.png" in err
    assert not out.exists()


def test_mask_of_another_size_is_refused_unless_resizing_is_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    composite, _ = make_pair(tmp_path)
    small_mask = write_image(tmp_path / "mask.png", box_mask(HEIGHT // 2, WIDTH // 2))
    out = tmp_path / "out.png"

    assert harmonize(composite, small_mask, "-o", out, "--model", "classical") == 2
    assert "--resize-mask" in capsys.readouterr().err
    assert not out.exists()

    assert harmonize(composite, small_mask, "-o", out, "--model", "classical", "--resize-mask") == 0
    result = read_rgb(out)
    assert result.shape == (HEIGHT, WIDTH, 3)
    assert foreground_distance(result, box_mask()) < foreground_distance(read_rgb(composite), box_mask()) / 2


@pytest.mark.parametrize(("fill", "message"), [(0, "mask is empty"), (255, "covers the whole image")])
def test_a_mask_with_nothing_to_harmonize_or_match_is_said_and_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fill: int, message: str
) -> None:
    composite, _ = make_pair(tmp_path)
    mask = write_image(tmp_path / "flat.png", np.full((HEIGHT, WIDTH), fill, np.uint8))
    out = tmp_path / "out.png"

    assert harmonize(composite, mask, "-o", out, "--model", "classical") == 0

    assert message in caplog.text
    assert np.array_equal(read_rgb(out), read_rgb(composite))


def test_a_mask_with_foreground_and_background_gets_no_such_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    composite, mask = make_pair(tmp_path)
    assert harmonize(composite, mask, "-o", tmp_path / "out.png", "--model", "classical") == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unreadable_composite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, mask = make_pair(tmp_path)
    composite = write_garbage(tmp_path / "broken.png")
    out = tmp_path / "out.png"

    assert harmonize(composite, mask, "-o", out, "--model", "classical") == 2

    assert "broken.png" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strength", "2.5"], "--strength"),
        (["-o", "{tmp}/out.jpg"], ".png"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    composite, mask = make_pair(tmp_path)
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    output = [] if "-o" in extra else ["-o", str(tmp_path / "out.png")]

    assert harmonize(composite, mask, *output, *extra, "--model", "classical") == 2

    assert message in capsys.readouterr().err
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())


def test_missing_composite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert harmonize(tmp_path / "nowhere.png", "-o", tmp_path / "out.png", "--model", "classical") == 2
    assert "nowhere.png" in capsys.readouterr().err


def test_existing_output_is_kept_unless_overwrite_is_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")

    assert harmonize(composite, mask, "-o", out, "--model", "classical") == 2
    assert "out.png" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"

    assert harmonize(composite, mask, "-o", out, "--model", "classical", "--overwrite") == 0
    assert read_rgb(out).shape == (HEIGHT, WIDTH, 3)


def test_16_bit_composite_gives_a_16_bit_png(tmp_path: Path) -> None:
    mask = box_mask()
    # Values that are not multiples of 257, so an 8-bit round trip anywhere would show.
    fine = np.random.default_rng(5).integers(0, 200, size=(HEIGHT, WIDTH, 3))
    deep = np.clip(tinted(texture(), mask).astype(np.int64) * 257 + fine, 0, 65535).astype(np.uint16)
    composite = write_image(tmp_path / "comp16.png", deep)
    mask_path = write_image(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"

    assert harmonize(composite, mask_path, "-o", out, "--model", "classical") == 0

    result = read_rgb(out)
    assert result.dtype == np.uint16
    assert np.array_equal(result[mask == 0], deep[mask == 0]), "16-bit background was not kept bit for bit"
    assert foreground_distance(result, mask) < foreground_distance(deep, mask) / 2


# ---------------------------------------------------------------------------------------------
# harmonize: models and devices


def test_default_model_falls_back_to_classical_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(engine.harmonizer, "DEFAULT_CHECKPOINT", tmp_path / "not-bundled.safetensors")
    composite, mask = make_pair(tmp_path)
    default_out, classical_out = tmp_path / "default.png", tmp_path / "classical.png"

    with caplog.at_level(logging.INFO):
        assert harmonize(composite, mask, "-o", default_out, "--model", "default") == 0
    said = caplog.text + capsys.readouterr().err
    assert "classical" in said

    assert harmonize(composite, mask, "-o", classical_out, "--model", "classical") == 0
    assert np.array_equal(read_rgb(default_out), read_rgb(classical_out))


def test_missing_checkpoint_is_a_model_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"

    assert harmonize(composite, mask, "-o", out, "--model", tmp_path / "some" / "missing.safetensors") == 3

    assert "missing.safetensors" in capsys.readouterr().err
    assert not out.exists()


def test_corrupt_checkpoint_is_a_model_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    composite, mask = make_pair(tmp_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)

    assert harmonize(composite, mask, "-o", tmp_path / "out.png", "--model", bad) == 3
    assert "bad.safetensors" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here, so --device cuda is valid")
def test_cuda_without_a_gpu_is_a_device_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"

    code = main(["harmonize", str(composite), str(mask), "-o", str(out), "--model", "classical", "--device", "cuda"])

    assert code == 3
    assert "CUDA" in capsys.readouterr().err
    assert not out.exists()


def test_checkpoint_model_harmonizes(tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors")
    composite, mask = make_pair(tmp_path)
    out = tmp_path / "out.png"

    assert harmonize(composite, mask, "-o", out, "--model", checkpoint) == 0

    result, original = read_rgb(out), read_rgb(composite)
    assert result.shape == original.shape
    background = box_mask() == 0
    assert np.array_equal(result[background], original[background])
    # An untrained checkpoint starts from the classical transfer.
    assert foreground_distance(result, box_mask()) < foreground_distance(original, box_mask()) / 2


# ---------------------------------------------------------------------------------------------
# harmonize: folders


def make_batch(tmp_path: Path) -> tuple[Path, Path]:
    """Three composites: two with iHarmony4 names, one with a same-name mask."""
    composites, masks = tmp_path / "composites", tmp_path / "masks"
    for seed, (comp, mask) in enumerate(
        [("a0001_1_1.png", "a0001_1.png"), ("a0002_2_3.png", "a0002_2.png"), ("holiday.png", "holiday.png")]
    ):
        write_composite(composites / comp, seed)
        write_image(masks / mask, box_mask())
    return composites, masks


def test_batch_pairs_masks_by_iharmony_and_same_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    composites, masks = make_batch(tmp_path)
    out = tmp_path / "out"

    assert harmonize(composites, masks, "-o", out, "--model", "classical") == 0

    assert sorted(p.name for p in out.iterdir()) == ["a0001_1_1.png", "a0002_2_3.png", "holiday.png"]
    background = box_mask() == 0
    for result_path in out.iterdir():
        original, result = read_rgb(composites / result_path.name), read_rgb(result_path)
        assert np.array_equal(result[background], original[background]), result_path.name
        assert foreground_distance(result, box_mask()) < foreground_distance(original, box_mask()) / 2
    assert "3 of 3" in capsys.readouterr().out


def test_batch_with_an_unreadable_composite_writes_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    composites, masks = make_batch(tmp_path)
    write_garbage(composites / "a0003_1_1.png")
    write_image(masks / "a0003_1.png", box_mask())
    out = tmp_path / "out"

    assert harmonize(composites, masks, "-o", out, "--model", "classical") == 1

    assert sorted(p.name for p in out.iterdir()) == ["a0001_1_1.png", "a0002_2_3.png", "holiday.png"]
    captured = capsys.readouterr()
    assert "a0003_1_1.png" in captured.err
    assert "3 of 4" in captured.out


def test_batch_with_a_composite_without_mask_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    composites, masks = make_batch(tmp_path)
    write_composite(composites / "lonely.png")
    out = tmp_path / "out"

    assert harmonize(composites, masks, "-o", out, "--model", "classical") == 2

    assert "lonely.png" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_batch_pairs_same_name_masks_whatever_the_underscores(tmp_path: Path) -> None:
    # Names such as scan__001 or photo_2024_ are not iHarmony4 names; their same-name masks
    # must still be found.
    composites, masks = tmp_path / "composites", tmp_path / "masks"
    for name in ("scan__001.png", "photo_2024_.png"):
        write_composite(composites / name)
        write_image(masks / name, box_mask())
    out = tmp_path / "out"

    assert harmonize(composites, masks, "-o", out, "--model", "classical") == 0
    assert sorted(p.name for p in out.iterdir()) == ["photo_2024_.png", "scan__001.png"]


def test_batch_without_masks_uses_alpha(tmp_path: Path) -> None:
    composites = tmp_path / "composites"
    mask = box_mask()
    for seed, name in enumerate(("one.png", "two.png")):
        write_image(composites / name, np.dstack((tinted(texture(seed), mask), mask)))
    out = tmp_path / "out"

    assert harmonize(composites, "-o", out, "--model", "classical") == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.png", "two.png"]


# ---------------------------------------------------------------------------------------------
# evaluate


def make_iharmony(tmp_path: Path) -> Path:
    """A tiny iHarmony4 folder: three composites (over two real images) with tinted foregrounds."""
    root = tmp_path / "HTiny"
    for seed, real_name in enumerate(("a0001", "a0002")):
        real = texture(seed + 10)
        write_image(root / "real_images" / f"{real_name}.png", np.clip(real, 0, 255).round().astype(np.uint8))
        write_image(root / "masks" / f"{real_name}_1.png", box_mask())
        write_image(root / "composite_images" / f"{real_name}_1_1.png", tinted(real, box_mask()))
    real = np.clip(texture(10), 0, 255)
    second = np.where(box_mask()[..., None] > 0, real * (0.7, 0.7, 1.4), real)
    write_image(root / "composite_images" / "a0001_1_2.png", np.clip(second, 0, 255).round().astype(np.uint8))
    return root


def test_evaluate_prints_a_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_iharmony(tmp_path)
    report_path = tmp_path / "report.json"

    args = ["--model", "classical", "--device", "cpu", "--json", str(report_path)]

    assert main(["evaluate", str(root), *args]) == 0

    report = json.loads(report_path.read_text())
    assert report["count"] == 3
    keys = {"composite@256", "model@256", "composite@full", "model@full"}
    assert set(report["mean"]) == keys
    for values in report["mean"].values():
        assert set(values) == {"mse", "psnr", "fmse"}
    assert [image["name"] for image in report["images"]] == ["a0001_1_1", "a0001_1_2", "a0002_1_1"]
    for image in report["images"]:
        assert keys <= set(image)
        assert image["model@256"]["fmse"] < image["composite@256"]["fmse"], image["name"]
    for size in ("256", "full"):
        assert report["mean"][f"model@{size}"]["fmse"] < report["mean"][f"composite@{size}"]["fmse"]
        assert report["mean"][f"model@{size}"]["psnr"] > report["mean"][f"composite@{size}"]["psnr"]

    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "fMSE" in line)
    assert header.split() == ["MSE", "PSNR", "fMSE"]
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split() and line.split()[0] in keys}
    assert set(rows) == keys
    for key, cells in rows.items():
        mean = report["mean"][key]
        assert [float(c) for c in cells] == pytest.approx([mean["mse"], mean["psnr"], mean["fmse"]], abs=0.006)


def test_evaluate_list_restricts_the_composites(tmp_path: Path) -> None:
    root = make_iharmony(tmp_path)
    (root / "HTiny_test.txt").write_text("composite_images/a0002_1_1.jpg\n")
    report_path = tmp_path / "report.json"

    args = ["--list", str(root / "HTiny_test.txt"), "--json", str(report_path)]

    assert main(["evaluate", str(root), *args, "--model", "classical", "--device", "cpu"]) == 0
    report = json.loads(report_path.read_text())
    assert report["count"] == 1
    assert [image["name"] for image in report["images"]] == ["a0002_1_1"]


def test_evaluate_without_masks_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_iharmony(tmp_path)
    for mask in (root / "masks").iterdir():
        mask.unlink()
    (root / "masks").rmdir()

    assert main(["evaluate", str(root), "--model", "classical", "--device", "cpu"]) == 2

    err = capsys.readouterr().err
    assert "masks" in err and str(root) in err


# ---------------------------------------------------------------------------------------------
# help


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "harmonize" in out and "evaluate" in out


def test_harmonize_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["harmonize", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--model", "--device", "--overwrite", "--resize-mask", "--strength"):
        assert option in out
