"""The statistics prior: where a foreground's Lab mean and spread belong, read from statistics.

A small MLP (docs/DESIGN.md, "The statistics prior") reads explicit numbers about a composite: the
foreground's and background's Lab means and spreads, the same in thin bands either side of the
mask's edge, lightness percentiles, the foreground's area, with ``prior_extremes`` each region's
white and black points and clipping (:func:`extreme_features`), with ``prior_encoder`` the
network encoder's features averaged over each region (the generator gives them) and, for a model
with a kind head, how much the picture looks like each kind. It predicts how far the
foreground's Lab mean and log-spread are from their right values. That answer is a Lab statistics
transfer, applied at ``strength`` of the predicted change and mixed into the network's answer by
the generator.

It is fitted on its own (``trainer.prior``): its inputs are fixed numbers, so thousands of training
composites are described once and the MLP learns from them in a minute.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.classical import LabStatistics, lab_image_statistics, stats_mapping
from engine.mapping import LabStatsMapping

STATS_FEATURES = 37  # what prior_features describes, before the kinds
EXTREME_FEATURES = 24  # what extreme_features describes
PRIOR_OUTPUTS = 6  # the change of the foreground's Lab mean (/50) and log-spread, per channel
_BAND = 0.03  # width of the bands either side of the mask's edge, as a share of the image side
_QUANTILES = (0.05, 0.5, 0.95)
_BRIGHT_QUANTILES = (0.99, 0.999)  # of each pixel's largest channel: the region's white point
_DARK_QUANTILES = (0.001, 0.01)  # of each pixel's smallest channel: its black point
_SATURATION_QUANTILES = (0.5, 0.95)
_CLIPPED_HIGH = 0.98  # a pixel whose largest channel is above this is clipped white
_CLIPPED_LOW = 0.02  # one whose smallest channel is below this, clipped black
_MIN_PIXELS = 4  # a region with fewer pixels is described by the whole image
_RANGE = 0.005  # inputs and answers are bounded by these quantiles of the fitting's, either side
_UNBOUNDED = 1e6  # the bounds of a prior not fitted yet
_DROPOUT = 0.2  # without it the MLP fits its training composites far better than new ones (measured)


def log_spread(spread: torch.Tensor) -> torch.Tensor:
    """A Lab spread's logarithm, floored so that an empty or flat region stays finite."""
    return spread.clamp(min=1e-3).log()


def _band_width(size: int) -> int:
    return max(3, round(size * _BAND)) | 1  # odd, for a centred max-pool


def _region_quantiles(values: torch.Tensor, inside: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
    """``(B, C, L)`` quantiles of ``values`` ``(B, C, N)`` where ``inside`` ``(B, N)``; all of them where too few are."""
    few = inside.sum(dim=1, keepdim=True) < _MIN_PIXELS
    where = (inside | few)[:, None]
    values = torch.where(where, values, torch.full_like(values, float("nan")))
    levels = torch.tensor(levels, dtype=values.dtype, device=values.device)
    return torch.nanquantile(values, levels, dim=2).permute(1, 2, 0)


def _lightness_quantiles(lightness: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` quantiles of ``lightness`` ``(B, N)`` where ``inside`` ``(B, N)``."""
    return _region_quantiles(lightness[:, None], inside, _QUANTILES)[:, 0]


def prior_features(lab: torch.Tensor, mask: torch.Tensor, stats: LabStatistics) -> torch.Tensor:
    """``(B, STATS_FEATURES)`` numbers describing a composite, on scales near 1.

    Args:
        lab: ``(B, 3, S, S)`` the composite in Lab.
        mask: ``(B, 1, S, S)`` foreground weights in ``[0, 1]``.
        stats: the composite's :func:`~engine.classical.lab_image_statistics`.
    """
    mask = mask.float().clamp(0, 1)
    width = _band_width(max(mask.shape[-2:]))
    grown = F.max_pool2d(mask, width, stride=1, padding=width // 2)
    shrunk = 1 - F.max_pool2d(1 - mask, width, stride=1, padding=width // 2)
    # A band that is empty (a mask without an edge) comes out as zeros.
    outer = lab_image_statistics(lab, (grown - mask).clamp(0, 1))
    inner = lab_image_statistics(lab, (mask - shrunk).clamp(0, 1))
    lightness = lab[:, 0].flatten(1)
    inside = mask.flatten(1) > 0.5
    log = log_spread
    return torch.cat((
        stats.fg_mean / 50, log(stats.fg_std), stats.bg_mean / 50, log(stats.bg_std),
        (stats.bg_mean - stats.fg_mean) / 50, log(stats.bg_std) - log(stats.fg_std),
        (outer.fg_mean - inner.fg_mean) / 50, log(outer.fg_std) - log(inner.fg_std),
        inner.fg_mean / 50, outer.fg_mean / 50,
        _lightness_quantiles(lightness, inside) / 50, _lightness_quantiles(lightness, ~inside) / 50,
        mask.mean(dim=(1, 2, 3))[:, None],
    ), dim=1)


def extreme_features(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, EXTREME_FEATURES)`` numbers on a composite's white and black points, for the foreground,
    the background and their difference: the top quantiles of each pixel's largest channel, the
    bottom ones of its smallest, its saturation's median and top, and the shares of clipped pixels.

    A photo's regions share its camera's white and black points and clipping; a foreground
    retouched or taken from another photo does not. With these the prior tells a dark object that
    belongs from a darkened one (measured: docs/DESIGN.md, "The statistics prior").

    Args:
        rgb: ``(B, 3, S, S)`` the composite in ``[0, 1]``.
        mask: ``(B, 1, S, S)`` foreground weights in ``[0, 1]``.
    """
    rgb = rgb.float()
    brightest, darkest = rgb.amax(dim=1).flatten(1), rgb.amin(dim=1).flatten(1)
    saturation = (brightest - darkest) / brightest.clamp(min=1e-3)
    # One sort per region gives every level for all three values; each keeps its own levels.
    levels = (*_BRIGHT_QUANTILES, *_DARK_QUANTILES, *_SATURATION_QUANTILES)
    bright_end = len(_BRIGHT_QUANTILES)
    dark_end = bright_end + len(_DARK_QUANTILES)
    values = torch.stack((brightest, darkest, saturation), dim=1)
    inside = mask.flatten(1) > 0.5
    regions = []
    for region in (inside, ~inside):
        quantiles = _region_quantiles(values, region, levels)
        pixels = region.sum(dim=1, keepdim=True).clamp(min=1)
        regions.append(torch.cat((
            quantiles[:, 0, :bright_end], quantiles[:, 1, bright_end:dark_end], quantiles[:, 2, dark_end:],
            ((brightest > _CLIPPED_HIGH) & region).sum(dim=1, keepdim=True) / pixels,
            ((darkest < _CLIPPED_LOW) & region).sum(dim=1, keepdim=True) / pixels,
        ), dim=1))
    foreground, background = regions
    return torch.cat((foreground, background, foreground - background), dim=1)


def prior_input_count(kinds: int, extremes: bool, encoder: int = 0) -> int:
    """How many numbers the prior reads: its features (:func:`extreme_features` with ``extremes``,
    then ``encoder`` numbers from the network's encoder), then the kinds."""
    return STATS_FEATURES + (EXTREME_FEATURES if extremes else 0) + encoder + kinds


class _BoundedMLP(nn.Module):
    """A two-layer MLP whose inputs are standardised and clamped to the range of those it was
    fitted on (:meth:`fit_inputs`): beyond them it would extrapolate."""

    def __init__(self, inputs: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.zeros(inputs))
        self.register_buffer("input_std", torch.ones(inputs))
        self.register_buffer("input_low", torch.full((inputs,), -_UNBOUNDED))
        self.register_buffer("input_high", torch.full((inputs,), _UNBOUNDED))
        self.net = nn.Sequential(
            nn.Linear(inputs, hidden), nn.GELU(), nn.Dropout(_DROPOUT),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(_DROPOUT),
            nn.Linear(hidden, outputs),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    @torch.no_grad()
    def fit_inputs(self, inputs: torch.Tensor) -> None:
        """Standardise and bound the inputs by the statistics of ``inputs`` ``(N, inputs)``."""
        self.input_mean.copy_(inputs.mean(dim=0))
        self.input_std.copy_(inputs.std(dim=0).clamp(min=1e-6))
        low, high = _range(inputs)
        self.input_low.copy_(low)
        self.input_high.copy_(high)

    def _raw(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = torch.minimum(torch.maximum(inputs, self.input_low), self.input_high)
        return self.net((inputs - self.input_mean) / self.input_std)


def _range(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``_RANGE`` and ``1 - _RANGE`` quantiles of ``values`` ``(N, D)``, per column."""
    levels = torch.tensor([_RANGE, 1 - _RANGE], dtype=values.dtype, device=values.device)
    bounds = torch.quantile(values, levels, dim=0)
    return bounds[0], bounds[1]


class StatisticsPrior(_BoundedMLP):
    """The MLP, the standardisation of its inputs and the ranges it answers within (all set when
    it is fitted: :meth:`fit_ranges`).

    An input outside what it was fitted on (a saturated orange croissant, when no food was among
    its photos) would make the MLP extrapolate: a change of the foreground's colour far beyond any
    it learnt from (tried: a croissant turned grey). So inputs are clamped to the range of its fitting's
    descriptions, and answers to the range of the changes it was taught.

    Args:
        kinds: how many kinds of picture the model tells apart (0: none; their likelihoods are inputs).
        hidden: width of its two hidden layers.
        extremes: whether it also reads :func:`extreme_features`.
        encoder: how many numbers it also reads from the network's encoder.
    """

    def __init__(self, kinds: int, hidden: int, extremes: bool = False, encoder: int = 0) -> None:
        # The last layer starts at zero: no change until fitted.
        super().__init__(prior_input_count(kinds, extremes, encoder), hidden, PRIOR_OUTPUTS)
        self.register_buffer("change_low", torch.full((PRIOR_OUTPUTS,), -_UNBOUNDED))
        self.register_buffer("change_high", torch.full((PRIOR_OUTPUTS,), _UNBOUNDED))

    def inputs(self, features: torch.Tensor, kind_likelihoods: torch.Tensor | None) -> torch.Tensor:
        """The MLP's raw inputs: the features, then the kinds' likelihoods when there are kinds."""
        return features if kind_likelihoods is None else torch.cat((features, kind_likelihoods), dim=1)

    @torch.no_grad()
    def fit_ranges(self, inputs: torch.Tensor, changes: torch.Tensor) -> None:
        """Standardise and bound the inputs by the statistics of ``inputs`` ``(N, inputs)``, and
        the answers by the range of the ``changes`` ``(N, PRIOR_OUTPUTS)`` to be learnt."""
        self.fit_inputs(inputs)
        low, high = _range(changes)
        self.change_low.copy_(low)
        self.change_high.copy_(high)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, PRIOR_OUTPUTS)``: the predicted change of the foreground's Lab mean (/50) and log-spread."""
        return torch.minimum(torch.maximum(self._raw(inputs), self.change_low), self.change_high)

    def mapping(
        self, change: torch.Tensor, stats: LabStatistics, strength: float, dead_zone: float = 0.0
    ) -> LabStatsMapping:
        """The Lab transfer that makes ``strength`` of the predicted ``change``, each of its numbers
        first moved ``dead_zone`` toward zero (none closer than that is made): the prior acts where it
        predicts a clear change, and leaves the small ones it predicts for nearly every unedited
        photo (measured: half the harm to unedited photos for a few points of correction)."""
        change = change.float()
        change = change.sign() * (change.abs() - dead_zone).clamp(min=0)
        mean_change, log_spread_change = (strength * change).chunk(2, dim=1)
        return stats_mapping(stats, stats.fg_mean + 50 * mean_change, stats.fg_std * log_spread_change.exp())


def change_of_statistics(composite: LabStatistics, real: LabStatistics) -> torch.Tensor:
    """What the prior predicts, from the real photo: ``(B, PRIOR_OUTPUTS)`` as :meth:`StatisticsPrior.forward`."""
    spread_change = log_spread(real.fg_std) - log_spread(composite.fg_std)
    return torch.cat(((real.fg_mean - composite.fg_mean) / 50, spread_change), dim=1)


class PriorMixer(_BoundedMLP):
    """How much of the network's correction and of the prior's to apply, chosen per composite.

    A fixed mix (``prior_weight`` of the prior, the rest of the network at its gate's share) is
    right on average and wrong for most composites: where the prior is sure and the network is not,
    or where both predict a change for a foreground that is already right. The mixer reads all of
    the prior's inputs but the encoder's numbers (with those it learnt its training composites and
    changed unedited photos twice as much; measured), the change of the foreground's statistics
    the network's answer makes, the network's own share and the change the prior predicts, and
    answers with two shares in ``(0, 1)``: ``total``, how much of the mixed correction to apply,
    and ``weight``, the prior's part of it (the prior's answer at ``prior_strength``, past its dead
    zone; the network's whole correction is the rest). It is fitted after the prior
    (``trainer.prior``), on the foreground error each mix leaves in its training composites.

    Args:
        kinds, extremes: what the prior reads (as :class:`StatisticsPrior`).
        hidden: width of its two hidden layers.
    """

    EXTRA_INPUTS = 2 * PRIOR_OUTPUTS + 1  # the network's change and share, the prior's change

    def __init__(self, kinds: int, hidden: int, extremes: bool = False) -> None:
        super().__init__(prior_input_count(kinds, extremes) + self.EXTRA_INPUTS, hidden, 2)

    def inputs(self, prior_inputs: torch.Tensor, network_change: torch.Tensor, network_share: torch.Tensor,
               prior_change: torch.Tensor) -> torch.Tensor:
        """The MLP's raw inputs; ``network_share`` is ``(B,)``, the changes as :func:`change_of_statistics`."""
        return torch.cat((prior_inputs, network_change, network_share[:, None], prior_change), dim=1).float()

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``total`` and ``weight``, each ``(B,)`` in ``(0, 1)``."""
        total, weight = torch.sigmoid(self._raw(inputs)).unbind(dim=1)
        return total, weight
