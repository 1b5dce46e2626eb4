"""Validation: iHarmony4 metrics of the model and of the composites, plus a preview picture."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from engine.imageio import from_float, write_png
from engine.metrics import MetricAccumulator, scores
from engine.model.generator import SCSCoGenerator

PREVIEW_ROWS = 4


def _to_images(batch: torch.Tensor) -> np.ndarray:
    """``(B, C, H, W)`` tensor -> ``(B, H, W, C)`` array."""
    return batch.permute(0, 2, 3, 1).cpu().numpy()


def preview_grid(composite: np.ndarray, harmonized: np.ndarray, real: np.ndarray, rows: int = PREVIEW_ROWS) -> np.ndarray:
    """Rows of composite | harmonized | real, as a uint8 picture."""
    rows = min(rows, len(composite))
    lines = [np.concatenate((composite[i], harmonized[i], real[i]), axis=1) for i in range(rows)]
    return from_float(np.concatenate(lines, axis=0), np.uint8)


@torch.no_grad()
def validate(
    model: SCSCoGenerator,
    batches: Iterable[dict[str, torch.Tensor]],
    device: torch.device,
    preview_path: Path | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean MSE, PSNR and fMSE at the working size for the model and for the composites.

    Returns:
        ``(model_metrics, composite_metrics)``.
    """
    was_training = model.training
    model.eval()
    model_scores, baseline = MetricAccumulator(), MetricAccumulator()
    preview: tuple[np.ndarray, ...] | None = None
    for batch in batches:
        composite, mask, real = (batch[k].to(device) for k in ("composite", "mask", "real"))
        harmonized = model(composite, mask)["harmonized"]
        composite, harmonized, real = (t.detach().float().clamp(0, 1) for t in (composite, harmonized, real))
        names = [str(int(i)) for i in batch["index"]]
        for accumulator, pred in ((model_scores, harmonized), (baseline, composite)):
            values = scores(pred, real, mask)
            for i, name in enumerate(names):
                accumulator.add(name, {key: float(v[i]) for key, v in values.items()})
        if preview is None:
            preview = tuple(_to_images(t) for t in (composite, harmonized, real))
    model.train(was_training)
    if preview is not None and preview_path is not None:
        preview_path.parent.mkdir(parents=True, exist_ok=True)
        write_png(preview_path, preview_grid(*preview))
    return model_scores.means(), baseline.means()
