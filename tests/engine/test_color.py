from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.color import lab_to_rgb, rgb_to_lab


def test_known_lab_values() -> None:
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 3, 1)
    lab = rgb_to_lab(rgb)[0, :, :, 0].T
    assert torch.allclose(lab[0], torch.tensor([100.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(lab[1], torch.tensor([0.0, 0.0, 0.0]), atol=0.05)
    assert torch.allclose(lab[2], torch.tensor([53.24, 80.09, 67.20]), atol=0.3)  # sRGB red


def test_agrees_with_opencv() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((8, 8, 3), dtype=np.float32)
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    assert np.abs(ours - expected).max() < 0.5


def test_round_trip_and_gradients() -> None:
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64, requires_grad=True)
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert torch.allclose(back, rgb, atol=1e-6)
    back.sum().backward()
    assert torch.isfinite(rgb.grad).all()


def test_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match=r"\(1, 4, 2, 2\)"):
        rgb_to_lab(torch.rand(1, 4, 2, 2))
