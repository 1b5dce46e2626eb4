"""Development-set evaluation (issue 5); prints one JSON object, or a Markdown table.

    python benchmarks/devset.py [--devset DIR] [--model default --model classical ...] [--markdown]
                                [--pictures DIR]

Regenerates the fixed development set into ``--devset`` when it is not there (``main.py devset``,
seed 0: 100 held-out labelme composites at 256 px and 15 high-resolution composites), then scores
the composite itself and every ``--model`` at 256 px and at full size. ``targets`` says, per
subset, whether the first model cuts the composite's fMSE by at least 60% and beats ``classical``
on MSE, PSNR and fMSE at both sizes. ``--pictures`` also writes, per high-resolution composite,
full-resolution crops at the foreground's edge side by side: composite | each model | real.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.evaluation import evaluate_triplets  # noqa: E402
from engine.harmonizer import Harmonizer, load_harmonizer  # noqa: E402
from engine.iharmony import Triplet, find_triplets  # noqa: E402
from engine.imageio import read_image, read_mask, write_png  # noqa: E402
from engine.pipeline import harmonize_array  # noqa: E402
from trainer.devset import HIGHRES_LONG_SIDE, SHARED_DATA, make_highres, make_labelme  # noqa: E402

SUBSETS = ("labelme", "highres")
SIZES = ("256", "full")
FMSE_CUT = 0.6
CROP = 512  # full-resolution pixels per side of a picture panel


def ensure_devset(folder: Path, seed: int) -> None:
    if not (folder / "labelme" / "real_images").is_dir():
        make_labelme(SHARED_DATA / "labelme_regions", folder / "labelme", seed)
    if not (folder / "highres" / "real_images").is_dir():
        make_highres(SHARED_DATA / "backgrounds", SHARED_DATA / "cutouts", folder / "highres", seed, HIGHRES_LONG_SIDE)


def score(folder: Path, harmonizers: dict[str, Harmonizer]) -> dict[str, dict[str, dict[str, float]]]:
    """``{subset: {"<label>@<size>": {mse, psnr, fmse}}}`` with ``composite`` and each model."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for subset in SUBSETS:
        triplets = find_triplets(folder / subset)
        table: dict[str, dict[str, float]] = {}
        for model, harmonizer in harmonizers.items():
            scores = evaluate_triplets(harmonizer, triplets, progress=False)
            for size in SIZES:
                table[f"composite@{size}"] = scores[f"composite@{size}"].means()
                table[f"{model}@{size}"] = scores[f"model@{size}"].means()
        results[subset] = {"count": len(triplets), **table}
    return results


def targets(results: dict, model: str) -> dict[str, dict[str, bool]]:
    checks = {}
    for subset in SUBSETS:
        table = results[subset]
        for size in SIZES:
            ours, base, classical = (table[f"{m}@{size}"] for m in (model, "composite", "classical"))
            checks[f"{subset}@{size}"] = {
                "fmse_cut_60": ours["fmse"] <= (1 - FMSE_CUT) * base["fmse"],
                "beats_classical": ours["mse"] < classical["mse"] and ours["psnr"] > classical["psnr"]
                and ours["fmse"] < classical["fmse"],
            }
    return checks


def markdown(results: dict, models: list[str]) -> str:
    labels = ["composite", *models]
    lines = ["| set | size | " + " | ".join(f"{m} MSE / PSNR / fMSE" for m in labels) + " |",
             "|---|---|" + "---|" * len(labels)]
    for subset in SUBSETS:
        for size in SIZES:
            cells = [
                "{mse:.1f} / {psnr:.2f} / {fmse:.0f}".format(**results[subset][f"{m}@{size}"]) for m in labels
            ]
            lines.append(f"| {subset} ({results[subset]['count']}) | {size} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def edge_window(mask: np.ndarray, size: int = CROP) -> tuple[slice, slice]:
    """A ``size`` square around the top of the foreground, where its edge meets the background."""
    rows, cols = np.nonzero(mask > 0.5)
    top = rows.min()
    centre_col = int(np.median(cols[rows < top + max(1, (rows.max() - top) // 10)]))
    height, width = mask.shape
    y = min(max(top - size // 3, 0), max(height - size, 0))
    x = min(max(centre_col - size // 2, 0), max(width - size, 0))
    return slice(y, y + size), slice(x, x + size)


def write_pictures(triplets: list[Triplet], harmonizers: list[Harmonizer], out: Path) -> None:
    """One PNG per composite: full-resolution edge crops of composite | each model | real."""
    for triplet in triplets:
        image = read_image(triplet.composite)
        mask = read_mask(triplet.mask, expected_shape=(image.height, image.width))
        window = edge_window(mask)
        panels = [image.rgb, *(harmonize_array(h, image.rgb, mask) for h in harmonizers), read_image(triplet.real).rgb]
        write_png(out / f"{triplet.name}.png", np.hstack([panel[window] for panel in panels]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devset", type=Path, default=Path("runs/devset"), help="development set folder")
    parser.add_argument("--model", action="append", help="default, classical or a checkpoint (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    parser.add_argument("--pictures", type=Path, help="also write side-by-side edge crops of the high-resolution set here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    models = args.model or ["default"]
    if "classical" not in models:
        models.append("classical")
    ensure_devset(args.devset, args.seed)
    harmonizers = {model: load_harmonizer(model, args.device) for model in models}
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
        write_pictures(find_triplets(args.devset / "highres"), list(harmonizers.values()), args.pictures)
    results = score(args.devset, harmonizers)
    if args.markdown:
        print(markdown(results, models))
    else:
        print(json.dumps({"results": results, "targets": targets(results, models[0])}, indent=2))


if __name__ == "__main__":
    main()
