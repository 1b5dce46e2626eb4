"""The whole SCS-Co objective can drive a tiny generator to fit a tiny batch."""
from __future__ import annotations

import torch

from engine.model.generator import GeneratorConfig, SCSCoGenerator
from trainer.losses import LossConfig, SCSCoLoss
from trainer.negatives import NegativeConfig, generate_negatives
from trainer.style import load_style_features


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    base = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4), size=32, mode="bilinear", align_corners=False)
    real = (0.2 + 0.6 * base + 0.05 * torch.randn(4, 3, 32, 32)).clamp(0, 1)
    mask = torch.zeros(4, 1, 32, 32)
    for i in range(4):
        mask[i, :, 4 + 2 * i : 20 + 2 * i, 6:24] = 1.0
    tints = torch.tensor([[1.3, 1.0, 0.7], [0.7, 0.9, 1.3], [1.2, 1.2, 1.2], [0.8, 1.1, 0.9]]).view(4, 3, 1, 1)
    composite = torch.where(mask.bool(), (real * tints).clamp(0, 1), real)
    return composite, mask, real


def test_tiny_model_overfits_a_tiny_batch() -> None:
    composite, mask, real = _batch()
    model = SCSCoGenerator(GeneratorConfig(width=8, max_width=16, depth=2, working_size=32, grid=16, bain_key_dim=8))
    loss_fn = SCSCoLoss(load_style_features("random"), LossConfig(style_size=None))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)

    def foreground_error() -> float:
        with torch.no_grad():
            out = model(composite, mask)["harmonized"]
        return float(((out - real) ** 2 * mask).sum() / mask.sum())

    start = foreground_error()
    for _ in range(80):
        negatives = generate_negatives(real, mask, composite, NegativeConfig(count=3), generator)
        losses = loss_fn(model(composite, mask)["harmonized"], real, mask, negatives, composite)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
    assert foreground_error() < 0.1 * start
