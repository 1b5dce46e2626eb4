"""BAIN: background-attentional adaptive instance normalisation (SCS-Co, CVPR 2022).

Region-aware AdaIN re-normalises foreground features with the *global* background mean and
spread. BAIN instead gives every foreground position its own background statistics, weighted by
how similar each background position's features are to it, so a foreground takes its style from
the parts of the background that resemble it (sky from sky, road from road).

For a feature map ``F`` and the mask resized to it:

- foreground statistics ``mu_f, sigma_f`` per channel over foreground positions;
- attention ``a_ij = softmax_j(q_i . k_j / sqrt(d))`` of each position ``i`` over background
  positions ``j``, with ``q, k`` 1x1 projections of instance-normalised ``F``;
- ``mu_i = sum_j a_ij F_j`` and ``sigma_i = sqrt(sum_j a_ij F_j^2 - mu_i^2 + eps)``;
- foreground output ``sigma_i * (gamma * (F_i - mu_f) / sigma_f + beta) + mu_i``; background
  positions are returned unchanged.

Keys and values may be pooled to a small grid to bound the cost at fine levels. Degenerate
masks never give NaN: an empty foreground is the identity, an empty background falls back to
statistics over the whole map.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_EPS = 1e-5
_MIN_WEIGHT = 1e-3


def _masked_mean_std(features: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel statistics ``(B, C, 1, 1)`` over positions weighted by ``weights`` ``(B, 1, H, W)``."""
    total = weights.sum(dim=(2, 3), keepdim=True).clamp(min=_MIN_WEIGHT)
    mean = (features * weights).sum(dim=(2, 3), keepdim=True) / total
    var = ((features - mean) ** 2 * weights).sum(dim=(2, 3), keepdim=True) / total
    return mean, (var + _EPS).sqrt()


class BAIN(nn.Module):
    """Background-attentional adaptive instance normalisation.

    Args:
        channels: feature channels ``C``.
        key_dim: dimension ``d`` of the query/key projections.
        pool: if given, background keys and values are average-pooled to at most ``pool x pool``
            positions (mask-weighted), which bounds memory at fine levels.

    Shape:
        - features: ``(B, C, H, W)``; mask: ``(B, 1, H, W)`` with values in ``[0, 1]``.
        - output: ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, key_dim: int = 32, pool: int | None = 16) -> None:
        super().__init__()
        self.key_dim = key_dim
        self.pool = pool
        self.query = nn.Conv2d(channels, key_dim, 1)
        self.key = nn.Conv2d(channels, key_dim, 1)
        self.gamma = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def _background_tokens(
        self, features: torch.Tensor, keys: torch.Tensor, background: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys ``(B, N, d)``, values ``(B, N, C)`` and background weights ``(B, N)``."""
        h, w = features.shape[-2:]
        if self.pool is not None and h * w > self.pool * self.pool:
            size = (min(self.pool, h), min(self.pool, w))
            weight = F.adaptive_avg_pool2d(background, size)
            norm = weight.clamp(min=_MIN_WEIGHT)
            # Background-weighted pooling, so keys and values describe background content only.
            features = F.adaptive_avg_pool2d(features * background, size) / norm
            keys = F.adaptive_avg_pool2d(keys * background, size) / norm
            background = weight
        return keys.flatten(2).transpose(1, 2), features.flatten(2).transpose(1, 2), background.flatten(1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Second moments lose too much in half precision: BAIN always runs in float32.
        with torch.autocast(device_type=features.device.type, enabled=False):
            return self._forward(features.float(), mask.float()).to(features.dtype)

    def _forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if features.dim() != 4 or mask.shape != (features.shape[0], 1, *features.shape[2:]):
            raise ValueError(
                f"expected features (B, C, H, W) and mask (B, 1, H, W), got {tuple(features.shape)}, {tuple(mask.shape)}"
            )
        mask = mask.clamp(0, 1)
        background = 1 - mask
        # An image without background attends to the whole map instead.
        no_background = background.sum(dim=(1, 2, 3), keepdim=True) < _MIN_WEIGHT
        background = torch.where(no_background, torch.ones_like(background), background)

        # Instance normalisation by hand: F.instance_norm refuses 1x1 maps.
        mean = features.mean(dim=(2, 3), keepdim=True)
        normalised = (features - mean) / (features.var(dim=(2, 3), keepdim=True, unbiased=False) + _EPS).sqrt()
        queries = self.query(normalised).flatten(2).transpose(1, 2)  # (B, HW, d)
        keys, values, weights = self._background_tokens(features, self.key(normalised), background)
        logits = queries @ keys.transpose(1, 2) / math.sqrt(self.key_dim)  # (B, HW, N)
        logits = logits + torch.log(weights.clamp(min=1e-12)).unsqueeze(1)
        attention = logits.float().softmax(dim=-1).to(values.dtype)
        mu = attention @ values  # (B, HW, C)
        var = (attention @ values.square() - mu.square()).clamp(min=0)
        b, c, h, w = features.shape
        mu = mu.transpose(1, 2).reshape(b, c, h, w)
        sigma = (var + _EPS).sqrt().transpose(1, 2).reshape(b, c, h, w)

        mu_f, sigma_f = _masked_mean_std(features, mask)
        aligned = sigma * (self.gamma * (features - mu_f) / sigma_f + self.beta) + mu
        return mask * aligned + (1 - mask) * features
