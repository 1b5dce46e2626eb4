"""SCS-Co losses: foreground reconstruction plus self-consistent style contrastive terms.

docs/DESIGN.md, "Losses":

- reconstruction: foreground-normalised MSE;
- foreground self-style: the output foreground's style (a region Gram matrix of frozen VGG-16
  features) should be close to the real foreground's and far from the negatives';
- foreground-background style consistency: the same contrast on :func:`cross_style`, the output
  foreground's style seen through the real background's;
- both as the ratio ``D(a, p) / (sum_k D(a, n_k) + eps)`` with mean-L1 distances, per sample and
  per style layer, then averaged. Gradients flow through the anchor in the numerator *and* in the
  denominator;
- harm (this project's, not the paper's): how much worse than the composite the output's
  foreground is, zero where it is no worse. MSE alone rewards a hedge halfway toward the
  surroundings when the model cannot tell a right foreground from a wrong one; this term makes
  changing a right foreground cost more than leaving a wrong one;
- kind (with a gate chosen per kind of picture): the cross-entropy of the model's guess of which
  data folder a sample comes from. Only the kind head learns from it (it reads detached
  features), so its weight does not matter.

``total = reconstruction + harm_weight * harm
+ style_weight * (self_weight * self_style + consistency_weight * consistency) + kind``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.dict_config import DictConfig
from engine.metrics import masked_mse
from trainer.style import StyleFeatures

_MIN_REGION = 1e-6  # feature-map positions' worth of weight below which a region's style is zero


@dataclass(frozen=True)
class LossConfig(DictConfig):
    """Weights and settings of :class:`SCSCoLoss`.

    Attributes:
        style_weight: lambda, the weight of both style terms together (0 skips the VGG passes).
        self_weight: weight of the foreground self-style term within them.
        consistency_weight: weight of the foreground-background consistency term within them.
        harm_weight: weight of the harm term (0: plain SCS-Co).
        min_area: floor of the foreground area (pixels at the working size) in the
            reconstruction normaliser, so tiny foregrounds do not blow the loss up.
        eps: added to the contrastive denominators.
        style_size: the style features see images whose shorter side is this many pixels
            (area-downscaled, never upscaled); ``None`` keeps the working size. At 128 a
            training step's VGG work is a quarter of that at 256 (``benchmarks/train.py --style-size``),
            and the colour and tone statistics the style terms compare are low-frequency.
        style_batch: images per gradient-free VGG pass over the real images and negatives
            (bounds memory; whole samples are kept together).
    """

    style_weight: float = 0.01
    self_weight: float = 1.0
    consistency_weight: float = 1.0
    harm_weight: float = 0.0
    min_area: float = 100.0
    eps: float = 1e-8
    style_size: int | None = 128
    style_batch: int = 64

    def __post_init__(self) -> None:
        weights = (
            self.style_weight, self.self_weight, self.consistency_weight, self.harm_weight, self.min_area, self.eps
        )
        if min(weights) < 0:
            raise ValueError(f"loss weights, min_area and eps must be non-negative, got {weights}")
        if (self.style_size is not None and self.style_size < 16) or self.style_batch < 1:
            raise ValueError(
                f"style_size must be None or >= 16 and style_batch >= 1, got {self.style_size}, {self.style_batch}"
            )

    def style_shape(self, height: int, width: int) -> tuple[int, int]:
        """Size of the images the style network sees, for a working size of ``height x width``."""
        if self.style_size is None or min(height, width) <= self.style_size:
            return height, width
        scale = self.style_size / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))


def reconstruction_loss(pred: Tensor, real: Tensor, mask: Tensor, min_area: float) -> Tensor:
    """Foreground-normalised MSE, averaged over the batch.

    Per sample, :func:`engine.metrics.masked_mse` with the area floored at ``min_area``: the
    iHarmony4 fMSE on a ``[0, 1]`` scale (times 255**2 gives fMSE) when the foreground is larger
    than ``min_area``.

    Args:
        pred: predictions.
        real: targets.
        mask: foreground weights in ``[0, 1]``.
        min_area: floor of the foreground area, in pixels.

    Returns:
        A scalar.

    Shape:
        pred, real ``(B, C, H, W)``; mask ``(B, 1, H, W)``.
    """
    if pred.dim() != 4 or pred.shape != real.shape or mask.shape != (pred.shape[0], 1, *pred.shape[2:]):
        raise ValueError(
            f"expected pred and real (B, C, H, W) and mask (B, 1, H, W), got "
            f"{tuple(pred.shape)}, {tuple(real.shape)}, {tuple(mask.shape)}"
        )
    return masked_mse(pred.float(), real.float(), mask.float(), min_area).mean()


def harm_loss(pred: Tensor, composite: Tensor, real: Tensor, mask: Tensor, min_area: float) -> Tensor:
    """How much further from the real foreground the prediction is than the composite, averaged
    over the batch: per sample ``max(0, fMSE(pred) - fMSE(composite))`` on the scale of
    :func:`reconstruction_loss`. On an unedited input (composite = real) it is the reconstruction
    error itself.

    Shape:
        pred, composite, real ``(B, C, H, W)``; mask ``(B, 1, H, W)``.
    """
    if composite.shape != pred.shape:
        raise ValueError(
            f"expected the composite to be shaped like the prediction {tuple(pred.shape)}, got {tuple(composite.shape)}"
        )
    mask = mask.float()
    baseline = masked_mse(composite.float(), real.float(), mask, min_area)
    return F.relu(masked_mse(pred.float(), real.float(), mask, min_area) - baseline).mean()


def _check_features(features: Tensor, weights: Tensor) -> None:
    if features.dim() != 4 or weights.dim() != 4 or weights.shape[:2] != (features.shape[0], 1):
        raise ValueError(
            f"expected features (B, C, h, w) and weights (B, 1, H, W), got "
            f"{tuple(features.shape)} and {tuple(weights.shape)}"
        )


def _full_precision(like: Tensor) -> torch.autocast:
    """Turn autocast off: Gram matrices and their products overflow float16."""
    return torch.autocast(like.device.type, enabled=False)


def _fit_weights(weights: Tensor, size: tuple[int, int]) -> Tensor:
    """Weights resized to a feature map by area averaging (each cell's foreground fraction)."""
    return weights if tuple(weights.shape[-2:]) == tuple(size) else F.adaptive_avg_pool2d(weights, size)


def region_style(features: Tensor, weights: Tensor) -> Tensor:
    """Style of a region: the weighted Gram matrix of its features, normalised by its weight.

    ``G[c, d] = sum_p w_p f_p[c] f_p[d] / sum_p w_p``, the mean outer product of the feature
    vectors over the region. An empty region has a zero Gram matrix.

    Args:
        features: feature maps.
        weights: region weights in ``[0, 1]`` at any size; area-resized to the feature map.

    Returns:
        Gram matrices, in float32.

    Shape:
        features ``(B, C, h, w)``; weights ``(B, 1, H, W)``; output ``(B, C, C)``.
    """
    _check_features(features, weights)
    w = _fit_weights(weights.float(), features.shape[-2:]).flatten(1).unsqueeze(2)  # (B, P, 1)
    f = features.float().permute(0, 2, 3, 1).flatten(1, 2)  # (B, P, C): a view for channels-last maps
    with _full_precision(features):
        gram = torch.bmm(f.transpose(1, 2), f * w)
    return gram / w.sum(dim=1, keepdim=True).clamp(min=_MIN_REGION)


def cross_style(fg_style: Tensor, bg_style: Tensor) -> Tensor:
    """Foreground-background style cross-correlation: the product ``fg_style @ bg_style`` of two
    :func:`region_style` Gram matrices.

    The paper's "Gram between the output's foreground features and the real background's
    features" cannot pair positions (the regions are disjoint), so it is defined on region
    statistics. The product of the two Gram matrices, ``X[c, e] = sum_d G_fg[c, d] G_bg[d, e]``,
    expresses the foreground's channel co-activations in the background's: a style difference
    counts more along feature directions the background expresses strongly.

    Why not the outer product of per-channel (mean, std) vectors: in SCS-Co the anchor, the
    positive and every negative share the *same* real background ``b``, and with an L1 distance
    ``D(a (x) b, p (x) b) = D(a, p) * mean|b|``, so ``b`` cancels from the ratio and the term
    would be a second self-style term that ignores the background. With the Gram product the
    distance ``mean|(G_a - G_p) G_b|`` does not factor, and the background changes which
    foreground errors matter (``tests/trainer/test_losses.py`` checks this).

    Args:
        fg_style: foreground styles (the output's, the real image's or the negatives').
        bg_style: the background's style (the real image's), one per sample.

    Returns:
        Cross-style matrices, in float32.

    Shape:
        fg_style ``(B, C, C)`` or ``(B, K, C, C)``; bg_style ``(B, C, C)``; output as ``fg_style``.
    """
    if fg_style.dim() not in (3, 4) or bg_style.dim() != 3 or fg_style.shape[-2:] != bg_style.shape[-2:]:
        raise ValueError(
            f"expected fg_style (B, C, C) or (B, K, C, C) and bg_style (B, C, C), got "
            f"{tuple(fg_style.shape)} and {tuple(bg_style.shape)}"
        )
    if fg_style.dim() == 4:
        bg_style = bg_style.unsqueeze(1)  # shared by the K negatives of a sample
    with _full_precision(fg_style):
        return fg_style.float() @ bg_style.float()


def contrastive_ratio(anchor: Tensor, positive: Tensor, negatives: Tensor, eps: float) -> Tensor:
    """``D(a, p) / (sum_k D(a, n_k) + eps)`` per sample, ``D`` the mean absolute difference.

    Nothing is detached: the gradient w.r.t. the anchor has the numerator's pull toward the
    positive and the denominator's push away from the negatives.

    Shape:
        anchor, positive ``(B, ...)``; negatives ``(B, K, ...)``; output ``(B,)``.
    """
    if anchor.shape != positive.shape or negatives.dim() != anchor.dim() + 1 or (
        negatives.shape[0] != anchor.shape[0] or negatives.shape[2:] != anchor.shape[1:]
    ):
        raise ValueError(
            f"expected anchor and positive (B, ...) and negatives (B, K, ...), got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negatives.shape)}"
        )
    to_positive = (anchor - positive).abs().flatten(1).mean(1)
    to_negatives = (anchor.unsqueeze(1) - negatives).abs().flatten(2).mean(2).sum(1)
    return to_positive / (to_negatives + eps)


def _resize(images: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])
    downscale = size[0] <= images.shape[-2] and size[1] <= images.shape[-1]
    mode = "area" if downscale else "bilinear"
    out = F.interpolate(flat, size=size, mode=mode, **({} if downscale else {"align_corners": False}))
    return out.reshape(*lead, *out.shape[-3:])


class SCSCoLoss(nn.Module):
    """Reconstruction plus the two style contrastive terms of SCS-Co.

    The style network runs twice per call: once with gradients on the output, once without on
    the real images and negatives together (in chunks of ``config.style_batch`` images), at
    ``config.style_shape``. The network is frozen; only the output carries gradients.

    Args:
        style: the frozen style network.
        config: weights and settings.

    Shape:
        - harmonized, real: ``(B, 3, H, W)``; mask ``(B, 1, H, W)``.
        - negatives: ``(B, K, 3, H, W)``, or already at ``config.style_shape(H, W)`` (cheaper
          to generate there).
        - composite: as harmonized, the network's input (for the harm term).
        - kinds: ``(kind logits (B, N), kind labels (B,))`` for a gate chosen by kind, else None.
        - output: a dict of scalars, one per :data:`engine.training_protocol.LOSS_TERMS`.
    """

    def __init__(self, style: StyleFeatures, config: LossConfig = LossConfig()) -> None:
        super().__init__()
        self.style = style
        self.config = config

    def forward(
        self, harmonized: Tensor, real: Tensor, mask: Tensor, negatives: Tensor, composite: Tensor,
        kinds: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        cfg = self.config
        size = cfg.style_shape(*harmonized.shape[-2:])
        self._check_inputs(harmonized, real, mask, negatives, size)
        rec = reconstruction_loss(harmonized, real, mask, cfg.min_area)
        harm = torch.zeros((), device=rec.device)
        if cfg.harm_weight:
            harm = harm_loss(harmonized, composite, real, mask, cfg.min_area)
        if cfg.style_weight == 0 or cfg.self_weight + cfg.consistency_weight == 0:
            self_style = consistency = torch.zeros((), device=rec.device)
        else:
            self_style, consistency = self._style_terms(harmonized, real, mask, negatives, size)
        style = cfg.self_weight * self_style + cfg.consistency_weight * consistency
        kind = F.cross_entropy(*kinds) if kinds is not None else torch.zeros((), device=rec.device)
        total = rec + cfg.harm_weight * harm + cfg.style_weight * style + kind
        return {"total": total, "reconstruction": rec, "harm": harm, "self_style": self_style,
                "consistency": consistency, "kind": kind}

    @staticmethod
    def _check_inputs(harmonized: Tensor, real: Tensor, mask: Tensor, negatives: Tensor, size: tuple[int, int]) -> None:
        b, h, w = harmonized.shape[0], *harmonized.shape[-2:]
        images_ok = harmonized.dim() == 4 and harmonized.shape[1] == 3 and real.shape == harmonized.shape
        if not images_ok or mask.shape != (b, 1, h, w):
            raise ValueError(
                f"expected harmonized and real (B, 3, H, W) and mask (B, 1, H, W), got "
                f"{tuple(harmonized.shape)}, {tuple(real.shape)}, {tuple(mask.shape)}"
            )
        if negatives.dim() != 5 or negatives.shape[0] != b or negatives.shape[1] < 1 or negatives.shape[2] != 3 or (
            tuple(negatives.shape[-2:]) not in ((h, w), size)
        ):
            raise ValueError(
                f"expected negatives (B={b}, K, 3, {h}, {w}) or at the style size {size}, got {tuple(negatives.shape)}"
            )

    def _style_terms(
        self, harmonized: Tensor, real: Tensor, mask: Tensor, negatives: Tensor, size: tuple[int, int]
    ) -> tuple[Tensor, Tensor]:
        """Self-style and consistency ratios, averaged over samples and layers."""
        eps = self.config.eps
        m = _resize(mask.float(), size)
        anchors = [region_style(f, m) for f in self.style(_resize(harmonized, size))]
        positives, negative_styles, backgrounds = self._reference_styles(real, m, negatives, size)
        self_terms, consistency_terms = [], []
        with _full_precision(m):
            for g_a, g_p, g_n, g_b in zip(anchors, positives, negative_styles, backgrounds):
                self_terms.append(contrastive_ratio(g_a, g_p, g_n, eps))
                crossed = cross_style(g_a, g_b), cross_style(g_p, g_b), cross_style(g_n, g_b)
                consistency_terms.append(contrastive_ratio(*crossed, eps))
        return torch.stack(self_terms).mean(), torch.stack(consistency_terms).mean()

    @torch.no_grad()
    def _reference_styles(
        self, real: Tensor, m: Tensor, negatives: Tensor, size: tuple[int, int]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Per layer: styles of the real foreground ``(B, C, C)``, of the negatives' foregrounds
        ``(B, K, C, C)`` and of the real background ``(B, C, C)``."""
        b, k = negatives.shape[:2]
        images = torch.cat((_resize(real, size).unsqueeze(1), _resize(negatives, size).to(real.dtype)), dim=1)
        per_chunk = max(1, self.config.style_batch // (k + 1))
        chunks: list[tuple[list[Tensor], list[Tensor]]] = []
        for start in range(0, b, per_chunk):
            part, part_m = images[start : start + per_chunk], m[start : start + per_chunk]
            n = part.shape[0]
            features = self.style(part.flatten(0, 1))
            fg_styles = [region_style(f, part_m.repeat_interleave(k + 1, 0)).unflatten(0, (n, k + 1)) for f in features]
            bg_styles = [region_style(f.unflatten(0, (n, k + 1))[:, 0], 1 - part_m) for f in features]
            chunks.append((fg_styles, bg_styles))
        layers = range(len(chunks[0][0]))
        fg = [torch.cat([c[0][i] for c in chunks]) for i in layers]
        bg = [torch.cat([c[1][i] for c in chunks]) for i in layers]
        return [s[:, 0] for s in fg], [s[:, 1:] for s in fg], bg
