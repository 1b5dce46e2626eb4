"""Scoring on iHarmony4 triplets, and the best-strength bound of a model's correction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.evaluation import BEST_KEY, SCORE_KEYS, evaluate_triplets
from engine.harmonizer import ClassicalHarmonizer
from engine.iharmony import find_triplets
from engine.imageio import write_png
from engine.mapping import GatedMapping


class HesitantHarmonizer(ClassicalHarmonizer):
    """The classical transfer, of which the model chooses to apply only 30 %."""

    def predict_mapping(self, composite, mask):  # noqa: ANN001, ANN201
        return GatedMapping(super().predict_mapping(composite, mask), torch.tensor([0.3]))


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(70, 180, (8, 12, 3)), np.ones((6, 6, 1))).astype(np.uint8)
    mask = np.zeros(smooth.shape[:2], np.uint8)
    mask[12:36, 18:54] = 255
    darkened = np.where(mask[..., None] > 0, smooth * 0.6, smooth).astype(np.uint8)
    for sub in ("real_images", "masks", "composite_images"):
        (root / sub).mkdir(parents=True)
    write_png(root / "real_images" / "a0001.png", smooth)
    write_png(root / "masks" / "a0001_1.png", mask)
    write_png(root / "composite_images" / "a0001_1_1.png", darkened)
    return root


def test_the_best_strength_scores_what_the_strength_could_reach(tmp_path: Path) -> None:
    triplets = find_triplets(_folder(tmp_path / "tiny"))
    plain = evaluate_triplets(HesitantHarmonizer(), triplets, progress=False)
    assert set(plain) == set(SCORE_KEYS)  # the best-strength score only when asked for
    scores = evaluate_triplets(HesitantHarmonizer(), triplets, progress=False, best_strength=True)
    best, model, composite = (scores[key].means()["fmse"] for key in (BEST_KEY, "model@full", "composite@full"))
    assert model < composite
    assert best < 0.8 * model  # the model held back 70 % of a correction that was mostly right
