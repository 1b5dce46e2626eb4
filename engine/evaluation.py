"""Scoring a harmonizer on iHarmony4-layout triplets: the composite itself is the baseline."""
from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

from engine.harmonizer import Harmonizer
from engine.iharmony import Triplet
from engine.imageio import read_image, read_mask
from engine.metrics import MetricAccumulator, best_blend_fmse, image_metrics
from engine.pipeline import MAX_STRENGTH, apply_prediction, predict

SCORE_KEYS = ("composite@256", "model@256", "composite@full", "model@full")
BEST_KEY = "best@full"  # fMSE at the best strength for each image (:func:`engine.metrics.best_blend_fmse`)


def evaluate_triplets(
    harmonizer: Harmonizer,
    triplets: Sequence[Triplet],
    resize_mask: bool = False,
    progress: bool | None = None,
    best_strength: bool = False,
) -> dict[str, MetricAccumulator]:
    """MSE, PSNR and fMSE of the composites and of the harmonizer's results, at 256 and full size.

    Args:
        progress: show a progress bar (``None``: only on a terminal).
        best_strength: also the fMSE at the best strength for each image, under :data:`BEST_KEY`
            (the same prediction applied once more, at ``MAX_STRENGTH``).

    Returns:
        One accumulator per entry of :data:`SCORE_KEYS`, and :data:`BEST_KEY` if asked for.

    Raises:
        ValueError: a real image's size differs from its composite's.
    """
    keys = (*SCORE_KEYS, BEST_KEY) if best_strength else SCORE_KEYS
    scores = {key: MetricAccumulator() for key in keys}
    for triplet in tqdm(triplets, desc="evaluating", unit="image", disable=None if progress is None else not progress):
        image = read_image(triplet.composite)
        mask = read_mask(triplet.mask, expected_shape=(image.height, image.width), resize=resize_mask)
        real = read_image(triplet.real)
        if real.rgb.shape != image.rgb.shape:
            raise ValueError(f"{triplet.real.name} is {real.width}x{real.height} but {triplet.composite.name} is {image.width}x{image.height}")
        prediction = predict(harmonizer, image.rgb, mask)
        result = apply_prediction(prediction, image.rgb, mask, harmonizer.device)
        for label, answer in (("composite", image.rgb), ("model", result)):
            scores[f"{label}@256"].add(triplet.name, image_metrics(answer, real.rgb, mask))
            scores[f"{label}@full"].add(triplet.name, image_metrics(answer, real.rgb, mask, size=None))
        if best_strength:
            strongest = apply_prediction(prediction, image.rgb, mask, harmonizer.device, MAX_STRENGTH)
            scores[BEST_KEY].add(triplet.name, {"fmse": best_blend_fmse(image.rgb, strongest, real.rgb, mask)})
    return scores
