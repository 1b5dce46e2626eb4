"""Development-set evaluation; prints one JSON object, or a Markdown table.

    python benchmarks/devset.py [--devset DIR] [--data DIR] [--model default --model classical ...]
                                [--markdown] [--pictures DIR] [--sheet DIR]

Regenerates the missing parts of the fixed development set into ``--devset`` (``main.py devset``,
seed 0; the parts are described in ``trainer/devset.py``), then scores the composite itself and
every ``--model`` at 256 px and at full size: mean MSE / PSNR / fMSE, and per model the share of
composites it makes worse (higher fMSE than the composite's, at full size) with the worst ratio.
On the ``identity`` part the composite is the real photo, so its fMSE is the harm done.
``best_strength_fmse`` is the full-size fMSE with the strength (0 to ``MAX_STRENGTH``) set right
for each composite, known from its real photo: what no choice of how much to apply can beat with
the model's correction, so what restraint alone can reach.

``targets`` checks the first model against issue 11's bars. ``--pictures`` writes full-resolution
edge crops of the high-resolution part (composite | each model | real); ``--sheet`` writes picture
sheets of the real composites in ``<data>/real_composites`` (composite | each model; no ground
truth), to be looked at row by row.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


import cv2
import numpy as np

from engine.data_location import MissingDataError, data_root, require
from engine.evaluation import BEST_KEY, evaluate_triplets
from engine.exit_codes import EXIT_INPUT
from engine.harmonizer import Harmonizer, load_harmonizer
from engine.iharmony import Triplet, find_triplets
from engine.imageio import read_image, read_mask, write_png
from engine.metrics import MetricAccumulator
from engine.pipeline import harmonize_array
from trainer.devset import PARTS, make_part

SIZES = ("256", "full")
CROP = 512  # full-resolution pixels per side of a picture panel
SHEET_ROW_HEIGHT = 300
SHEET_ROWS = 6
# Issue 11's bars for the first model: fMSE cut per part, harm on unedited photos, made-worse share.
FMSE_CUT = {"labelme": 0.72, "highres": 0.67, "objects": 0.60}
IDENTITY_FMSE = 100.0
WORSE_SHARE = 0.05
WORST_RATIO = 1.5


def ensure_devset(folder: Path, data: Path, seed: int) -> None:
    for part in PARTS:
        if not (folder / part / "real_images").is_dir():
            make_part(part, data, folder / part, seed)


def harm(model: MetricAccumulator, composite: MetricAccumulator) -> dict[str, float | None]:
    """Share of images whose fMSE the model raised, and the worst model/composite fMSE ratio."""
    ratios = [m["fmse"] / c["fmse"] for (_, m), (_, c) in zip(model.per_image, composite.per_image) if c["fmse"] > 0]
    if not ratios:
        return {"worse_share": None, "worst_ratio": None}
    return {"worse_share": float(np.mean(np.array(ratios) > 1.0)), "worst_ratio": float(max(ratios))}


def score(folder: Path, harmonizers: dict[str, Harmonizer]) -> dict[str, dict]:
    """``{part: {"count": n, "<label>@<size>": {mse, psnr, fmse[, worse_share, worst_ratio]}}}``."""
    results: dict[str, dict] = {}
    for part in PARTS:
        triplets = find_triplets(folder / part)
        table: dict = {"count": len(triplets)}
        for model, harmonizer in harmonizers.items():
            scores = evaluate_triplets(harmonizer, triplets, progress=False, best_strength=True)
            for size in SIZES:
                table[f"composite@{size}"] = scores[f"composite@{size}"].means()
                table[f"{model}@{size}"] = scores[f"model@{size}"].means()
            table[f"{model}@full"].update(harm(scores["model@full"], scores["composite@full"]))
            table[f"{model}@full"]["best_strength_fmse"] = scores[BEST_KEY].means()["fmse"]
        results[part] = table
    return results


def targets(results: dict, model: str) -> dict[str, dict[str, bool]]:
    checks: dict[str, dict[str, bool]] = {}
    for part in PARTS:
        ours, base = results[part][f"{model}@full"], results[part]["composite@full"]
        part_checks: dict[str, bool] = {}
        if part == "identity":
            part_checks["fmse_at_most_100"] = ours["fmse"] <= IDENTITY_FMSE
        else:
            part_checks[f"fmse_cut_{FMSE_CUT[part]:.0%}"] = ours["fmse"] <= (1 - FMSE_CUT[part]) * base["fmse"]
            part_checks["worse_at_most_5pct"] = ours["worse_share"] <= WORSE_SHARE
            part_checks["worst_ratio_at_most_1.5"] = ours["worst_ratio"] <= WORST_RATIO
        checks[part] = part_checks
    return checks


def markdown(results: dict, models: list[str]) -> str:
    labels = ["composite", *models]
    lines = ["| part | size | " + " | ".join(f"{m} MSE / PSNR / fMSE" for m in labels) + " | "
             + " | ".join(f"{m} worse / worst / best-strength fMSE" for m in models) + " |",
             "|---|---|" + "---|" * (len(labels) + len(models))]
    for part in PARTS:
        for size in SIZES:
            table = results[part]
            cells = ["{mse:.1f} / {psnr:.2f} / {fmse:.0f}".format(**table[f"{m}@{size}"]) for m in labels]
            for m in models:
                values = table[f"{m}@full"]
                worse = "- / -"  # identity: no composite fMSE to be worse than
                if values.get("worse_share") is not None:
                    worse = f"{values['worse_share']:.0%} / {values['worst_ratio']:.2f}x"
                cells.append(f"{worse} / {values['best_strength_fmse']:.0f}" if size == "full" else "")
            lines.append(f"| {part} ({table['count']}) | {size} | " + " | ".join(cells) + " |")
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


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    out = panel.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 12 + 9 * len(text)), 22), (0, 0, 0), -1)
    cv2.putText(out, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def sheet_row(name: str, rgb: np.ndarray, mask: np.ndarray, results: dict[str, np.ndarray]) -> np.ndarray:
    """composite (its mask outlined) | each result, scaled to the sheet's row height, labelled."""
    scale = SHEET_ROW_HEIGHT / rgb.shape[0]
    size = (max(1, round(rgb.shape[1] * scale)), SHEET_ROW_HEIGHT)
    small_mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    outlined = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    contours, _ = cv2.findContours((small_mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(outlined, contours, -1, (255, 0, 255), 1)
    panels = [_label(outlined, name)]
    panels += [_label(cv2.resize(result, size, interpolation=cv2.INTER_AREA), label) for label, result in results.items()]
    gap = np.full((SHEET_ROW_HEIGHT, 4, 3), 255, np.uint8)
    return np.hstack([p for panel in panels for p in (panel, gap)][:-1])


def write_sheets(folder: Path, harmonizers: dict[str, Harmonizer], out: Path) -> int:
    """Picture sheets of ``composites/`` + ``masks/`` (same stems), ``SHEET_ROWS`` rows a page."""
    composites = sorted(p for p in (folder / "composites").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rows = []
    for path in composites:
        image = read_image(path)
        mask = read_mask(folder / "masks" / f"{path.stem}.png", expected_shape=(image.height, image.width), resize=True)
        results = {label: harmonize_array(h, image.rgb, mask) for label, h in harmonizers.items()}
        rows.append(sheet_row(path.stem, image.rgb, mask, results))
    out.mkdir(parents=True, exist_ok=True)
    for page, start in enumerate(range(0, len(rows), SHEET_ROWS)):
        chunk = rows[start:start + SHEET_ROWS]
        width = max(r.shape[1] for r in chunk)
        padded = [np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in chunk]
        write_png(out / f"real_composites_{page + 1:02d}.png", np.vstack(padded))
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devset", type=Path, default=Path("runs/devset"), help="development set folder")
    parser.add_argument("--data", type=Path, help="data folder (default: $HARMONIZER_DATA, else the repository's data/)")
    parser.add_argument("--model", action="append", help="default, classical or a checkpoint (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")
    parser.add_argument("--pictures", type=Path, help="also write side-by-side edge crops of the high-resolution part here")
    parser.add_argument("--sheet", type=Path, help="also write picture sheets of the real composites here")
    parser.add_argument("--no-scores", action="store_true", help="only the pictures and sheets")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    data = args.data or data_root()
    models = args.model or ["default"]
    if "classical" not in models:
        models.append("classical")
    harmonizers = {model: load_harmonizer(model, args.device) for model in models}
    if args.sheet:
        count = write_sheets(require(data / "real_composites", "real_composites"), harmonizers, args.sheet)
        print(f"{count} real composites on sheets in {args.sheet}", file=sys.stderr)
    if args.no_scores:
        return
    ensure_devset(args.devset, data, args.seed)
    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
        write_pictures(find_triplets(args.devset / "highres"), list(harmonizers.values()), args.pictures)
    results = score(args.devset, harmonizers)
    if args.markdown:
        print(markdown(results, models))
    else:
        print(json.dumps({"results": results, "targets": targets(results, models[0])}, indent=2))


if __name__ == "__main__":
    try:
        main()
    except MissingDataError as error:  # the data folder's parts are absent: say which, no traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_INPUT)
