"""The SCS-Co generator: a U-Net over composite, mask and classical transfer, with BAIN.

Two heads (docs/DESIGN.md, "The generator" and "The mapping head"):

- ``mapping`` (default): the decoder stops at a coarse grid and predicts a global affine colour
  transform plus local affine corrections on that grid, applied on top of a *base*. The answer is a
  :class:`~engine.mapping.ColourMapping`, exact at any resolution. At initialisation the predicted
  corrections are zero, so an untrained model returns its base.

- ``rgb`` (as the paper): the decoder reaches the working size and predicts the foreground's
  pixels as a residual over the base; local affine models fitted to that output carry it to full
  resolution.

Bases: ``adaptive`` (default) is a Lab statistics transfer whose strength and target the network
chooses per image and channel, from its features and the explicit foreground/background Lab
statistics; it starts as the identity. ``classical`` is the fixed transfer to the background's
statistics, ``identity`` the composite itself. A fixed classical base is badly wrong whenever a
region's true colours differ from its surroundings' (sky, road, a red car: on the labelme part
of the development set it does far worse than the composite itself), while on a silhouette pasted
over a photo it is close to right; the adaptive base lets the network decide between the two
with a handful of parameters it learns in a few hundred steps. The network also sees the
classical result as an input (``classical_input``).

With ``gate``, a small head also predicts the share of its correction to apply (a
:class:`~engine.mapping.GatedMapping`): leaving a foreground that already fits alone is then one
number away, whatever the rest of the answer. With ``gate_kinds`` the share is chosen per kind of
picture instead: a head tells which of the kinds it was trained on (its training's data folders:
scene regions, portraits, animals...) a composite looks like, and each kind has one learnt share.
With ``prior``, a small MLP on explicit statistics (:mod:`engine.model.prior`; with ``prior_encoder``
also on the encoder's features, averaged over each region) predicts where the foreground's Lab mean
and spread belong, and its Lab transfer is mixed into the answer: in fixed shares, or with
``prior_mixer`` in the shares a second small MLP chooses for each composite.

``forward`` returns a dict of named outputs: ``harmonized`` (the working-size result composed
with the background), ``base`` (its starting point), for the mapping head ``mapping``, and with
``gate_kinds`` the kind head's ``kind_logits``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from engine.classical import LabStatistics, lab_image_statistics, lab_statistics, stats_mapping
from engine.color import rgb_to_lab
from engine.dict_config import DictConfig
from engine.mapping import (
    AFFINE_PARAMS, AffineGridMapping, BlendMapping, ChainMapping, ColourMapping, GatedMapping, LabStatsMapping,
    identity_affine,
)
from engine.model.bain import BAIN
from engine.model.prior import (
    PriorMixer, StatisticsPrior, change_of_statistics, extreme_features, log_spread, prior_features,
)

HEADS = ("mapping", "rgb")
MAX_CHANNELS = 1024  # sanity limits: a checkpoint cannot make us allocate an absurd model
MAX_WORKING_SIZE = 2048
MAX_GATE_KINDS = 64
BASES = ("adaptive", "classical", "identity")
TRANSFER_PARAMS = 12  # per Lab channel: mean pull, mean offset, spread pull, spread offset
_STATS_FEATURES = 18
_GATE_OPEN = 3.0  # the gate's logit before training: sigmoid(3) = 0.95, nearly all of the correction
_GATE_GAIN = 10.0  # the gate head's output is scaled up so that a fine-tune's small steps can move it
_KIND_STATS_MOMENTUM = 0.05  # how fast the kind head's input statistics follow the training batches


@dataclass(frozen=True)
class GeneratorConfig(DictConfig):
    """Architecture of the generator; stored in every checkpoint. Sizes and speeds of the shipped
    model are in its model card and in ``benchmarks/``."""

    head: str = "mapping"
    base: str = "adaptive"
    width: int = 16  # channels of the first encoder level, doubled per level
    max_width: int = 128
    depth: int = 5  # encoder levels; the bottleneck is working_size / 2**depth
    bain_levels: int = 2  # decoder stages with BAIN, coarsest first
    bain_key_dim: int = 32
    bain_pool: int = 16
    grid: int = 16  # side of the local mapping grid (mapping head)
    working_size: int = 256
    classical_input: bool = True  # feed the classical transfer result to the network
    gate: bool = False  # predict the share of the correction to apply (mapping head)
    gate_kinds: int = 0  # with gate: choose the share per kind of picture, among this many
    prior: bool = False  # mix in the statistics prior's answer (engine/model/prior.py; mapping head)
    prior_hidden: int = 64
    prior_strength: float = 0.5  # how much of the change it predicts the prior makes
    prior_weight: float = 0.5  # the prior's part of the answer; the network's is the rest
    prior_dead_zone: float = 0.0  # changes the prior predicts are moved this much toward none first
    prior_extremes: bool = False  # the prior also reads the regions' white and black points and clipping
    # The prior also reads the encoder's features, averaged over the foreground and the background
    # at every level: what the picture shows, where the statistics only say how it is coloured.
    prior_encoder: bool = False
    # With prior: choose the network's and the prior's shares per composite (PriorMixer), in place
    # of prior_weight and the gate's share; the prior's answer is still hedged as set above.
    prior_mixer: bool = False

    def __post_init__(self) -> None:
        problems = self._type_problems()
        if problems:
            raise ValueError("invalid generator configuration: " + "; ".join(problems))
        if self.head not in HEADS:
            problems.append(f"head must be one of {HEADS}, got {self.head!r}")
        if self.base not in BASES:
            problems.append(f"base must be one of {BASES}, got {self.base!r}")
        if self.max_width > MAX_CHANNELS or self.working_size > MAX_WORKING_SIZE:
            problems.append(f"max_width is limited to {MAX_CHANNELS} and working_size to {MAX_WORKING_SIZE}")
        if self.width < 1 or self.max_width < self.width or self.depth < 1 or self.bain_key_dim < 1:
            problems.append("width, max_width, depth and bain_key_dim must be positive, max_width >= width")
        bottleneck = self.working_size / 2**self.depth
        if bottleneck < 1 or bottleneck != int(bottleneck):
            problems.append(f"working_size {self.working_size} is not divisible by 2**depth = {2 ** self.depth}")
        elif self.head == "mapping":
            ratio = self.grid / bottleneck
            if ratio < 1 or ratio != 2 ** round(math.log2(ratio)) or self.grid > self.working_size // 2:
                problems.append(
                    f"grid {self.grid} must be the bottleneck size {int(bottleneck)} times a power of two, "
                    f"at most working_size / 2"
                )
        if self.gate and self.head != "mapping":
            problems.append("gate needs the mapping head")
        if not 0 <= self.gate_kinds <= MAX_GATE_KINDS or (self.gate_kinds and not self.gate):
            problems.append(f"gate_kinds must be between 0 and {MAX_GATE_KINDS}, and needs the gate")
        if self.prior and (self.head != "mapping" or self.prior_hidden < 1):
            problems.append("prior needs the mapping head and prior_hidden of at least 1")
        if self.prior_mixer and not self.prior:
            problems.append("prior_mixer needs the prior")
        if not all(0.0 <= value <= 1.0 for value in (self.prior_strength, self.prior_weight, self.prior_dead_zone)):
            problems.append("prior_strength, prior_weight and prior_dead_zone must be between 0 and 1")
        if not 0 <= self.bain_levels <= self.decoder_stages:
            problems.append(f"bain_levels must be between 0 and {self.decoder_stages}")
        if problems:
            raise ValueError("invalid generator configuration: " + "; ".join(problems))

    def _type_problems(self) -> list[str]:
        problems = []
        for field in fields(self):
            value = getattr(self, field.name)
            expected = type(field.default)
            if type(value) is not expected:  # bool is not accepted where an int is meant, nor 4.5
                problems.append(f"{field.name} must be {expected.__name__}, got {value!r}")
        return problems

    @property
    def up_levels(self) -> int:
        """Number of x2 upsampling stages in the decoder."""
        if self.head == "rgb":
            return self.depth
        bottleneck = self.working_size // 2**self.depth
        return max(0, round(math.log2(max(self.grid, 1) / bottleneck)))

    @property
    def decoder_stages(self) -> int:
        return self.up_levels + 1

    def channels(self, level: int) -> int:
        return min(self.width * 2**level, self.max_width)

    @property
    def prior_encoder_features(self) -> int:
        """How many of the encoder's numbers the prior reads: a foreground and a background mean per
        channel of every level with ``prior_encoder``, else none."""
        return 2 * sum(self.channels(level) for level in range(self.depth)) if self.prior_encoder else 0


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.LeakyReLU(0.1),
    )


def _masked_mean(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (features * weights).sum(dim=(2, 3)) / weights.sum(dim=(2, 3)).clamp(min=1e-3)


def _region_means(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, 2C)``: the foreground's then the background's mean of ``features`` ``(B, C, H, W)``."""
    m = F.adaptive_avg_pool2d(mask, features.shape[-2:])
    return torch.cat((_masked_mean(features, m), _masked_mean(features, 1 - m)), dim=1)


class _Encoding(NamedTuple):
    """What one pass of the network and the described statistics give every head (:meth:`SCSCoGenerator._encode`)."""

    features: torch.Tensor  # the last decoder stage's
    pooled: torch.Tensor  # their foreground and background means
    base_mapping: LabStatsMapping | None
    summary: torch.Tensor | None  # what the small heads read, when one is used
    lab: torch.Tensor | None  # the composite in Lab, when needed (converted once for all uses)
    stats: LabStatistics | None  # its Lab statistics, likewise
    levels: torch.Tensor | None  # with prior_encoder: every encoder level's region means


class SCSCoGenerator(nn.Module):
    """SCS-Co generator.

    Shape:
        - composite: ``(B, 3, S, S)`` in ``[0, 1]`` with ``S = config.working_size``.
        - mask: ``(B, 1, S, S)`` in ``[0, 1]``.
        - output ``harmonized``: ``(B, 3, S, S)``.
    """

    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        in_channels = 3 + 1 + (3 if config.classical_input else 0)
        self.encoder = nn.ModuleList(
            _conv_block(in_channels if i == 0 else c(i - 1), c(i), stride=2) for i in range(config.depth)
        )
        self.decoder = nn.ModuleList()
        out_channels = c(config.depth - 1)
        for stage in range(1, config.decoder_stages):
            skip_level = config.depth - 1 - stage  # -1: the network input itself
            skip = in_channels if skip_level < 0 else c(skip_level)
            target = c(max(skip_level, 0))
            self.decoder.append(_conv_block(out_channels + skip, target))
            out_channels = target
        self.bains = nn.ModuleList(
            BAIN(c(config.depth - 1) if s == 0 else self.decoder[s - 1][0].out_channels, config.bain_key_dim, config.bain_pool)
            for s in range(config.bain_levels)
        )
        summary_size = 2 * out_channels + _STATS_FEATURES  # what the small heads read (_encode)
        if config.base == "adaptive":
            self.transfer_head = nn.Sequential(
                nn.Linear(summary_size, out_channels), nn.LeakyReLU(0.1),
                nn.Linear(out_channels, TRANSFER_PARAMS),
            )
        if config.head == "mapping":
            self.local_head = nn.Conv2d(out_channels, AFFINE_PARAMS, 3, padding=1)
            self.global_head = nn.Sequential(
                nn.Linear(2 * out_channels, out_channels), nn.LeakyReLU(0.1), nn.Linear(out_channels, AFFINE_PARAMS)
            )
            zero_layers = [self.local_head, self.global_head[-1]]
        else:
            self.rgb_head = nn.Conv2d(out_channels, 3, 3, padding=1)
            zero_layers = [self.rgb_head]
        if config.base == "adaptive":
            zero_layers.append(self.transfer_head[-1])
        if config.gate_kinds:
            self.kind_head = nn.Linear(summary_size, config.gate_kinds)
            # An even share to start with: from a nearly open gate (0.95) 600 steps brought the
            # shares of the kinds that need 0.2-0.5 only down to 0.7-0.8 (tried).
            self.kind_shares = nn.Parameter(torch.zeros(config.gate_kinds))
            # The pooled features are on very different scales (some around 0.01): standardised,
            # a few hundred steps teach the head far more (measured: 74% of sources told apart
            # instead of 66%).
            self.register_buffer("kind_mean", torch.zeros(summary_size))
            self.register_buffer("kind_var", torch.ones(summary_size))
            zero_layers.append(self.kind_head)
        elif config.gate:
            self.gate_head = nn.Sequential(
                nn.Linear(summary_size, out_channels), nn.LeakyReLU(0.1),
                nn.Linear(out_channels, 1),
            )
            zero_layers.append(self.gate_head[-1])
        if config.prior:
            self.prior = StatisticsPrior(config.gate_kinds, config.prior_hidden, config.prior_extremes,
                                         config.prior_encoder_features)
        if config.prior_mixer:
            self.prior_mixer = PriorMixer(config.gate_kinds, config.prior_hidden, config.prior_extremes)
        for layer in zero_layers:  # start from the base: no correction until trained
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _check_inputs(self, composite: torch.Tensor, mask: torch.Tensor) -> None:
        s = self.config.working_size
        if composite.dim() != 4 or composite.shape[1:] != (3, s, s) or mask.shape != (composite.shape[0], 1, s, s):
            raise ValueError(
                f"expected composite (B, 3, {s}, {s}) and mask (B, 1, {s}, {s}), "
                f"got {tuple(composite.shape)} and {tuple(mask.shape)}"
            )

    def forward(
        self, composite: torch.Tensor, mask: torch.Tensor, kinds: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor | ColourMapping]:
        """``kinds`` (``(B,)``, with ``gate_kinds``, in training): each sample's true kind. The gate
        then applies that kind's share, so that each share learns from its own kind's samples."""
        self._check_inputs(composite, mask)
        encoding = self._encode(composite, mask)
        features, base_mapping, lab = encoding.features, encoding.base_mapping, encoding.lab
        base = base_mapping.apply_to_lab(lab).clamp(0, 1) if base_mapping else composite.float()
        kind_logits = self._kind_logits(encoding.summary)

        if self.config.head == "mapping":
            grid = self._grid_mapping(features, encoding.pooled)
            mapping: ColourMapping | None = ChainMapping(base_mapping, grid) if base_mapping is not None else grid
            gate = self._gate(encoding.summary, kind_logits, kinds) if self.config.gate else None
            if self.config.prior_mixer:
                mapping = self._mixed_by_mixer(composite, mask, encoding, kind_logits, mapping, gate)
                raw = mapping.apply(composite.float())
            else:
                raw = grid.apply(base)
                if gate is not None:
                    raw = torch.lerp(composite.float(), raw.clamp(0, 1), gate.view(-1, 1, 1, 1))
                if self.config.prior:
                    prior = self._prior_mapping(composite, mask, encoding, kind_logits)
                    raw = torch.lerp(raw.clamp(0, 1), prior.apply_to_lab(lab).clamp(0, 1), self.config.prior_weight)
                    mapping = _mixed_with_prior(mapping, gate, prior, self.config.prior_weight)
                elif gate is not None:
                    mapping = GatedMapping(mapping, gate)
        else:
            raw = base + self.rgb_head(features).float()
            mapping = None
        raw = raw.clamp(0, 1).to(composite.dtype)
        outputs: dict[str, torch.Tensor | ColourMapping] = {
            "harmonized": mask * raw + (1 - mask) * composite,
            "base": mask * base.to(composite.dtype) + (1 - mask) * composite,
        }
        if mapping is not None:
            outputs["mapping"] = mapping
        if kind_logits is not None:
            outputs["kind_logits"] = kind_logits
        return outputs

    def predict_mapping(self, composite: torch.Tensor, mask: torch.Tensor) -> ColourMapping:
        """The mapping head's answer alone: ``forward(...)["mapping"]`` without the working-size
        pictures that training needs, for inference."""
        if self.config.head != "mapping":
            raise ValueError(f"the {self.config.head} head answers with pictures, not a mapping")
        self._check_inputs(composite, mask)
        encoding = self._encode(composite, mask)
        mapping = self._network_mapping(encoding)
        kind_logits = self._kind_logits(encoding.summary)
        gate = self._gate(encoding.summary, kind_logits) if self.config.gate else None
        if self.config.prior_mixer:
            return self._mixed_by_mixer(composite, mask, encoding, kind_logits, mapping, gate)
        if self.config.prior:
            prior = self._prior_mapping(composite, mask, encoding, kind_logits)
            return _mixed_with_prior(mapping, gate, prior, self.config.prior_weight)
        return mapping if gate is None else GatedMapping(mapping, gate)

    @torch.no_grad()
    def prior_inputs(self, composite: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, LabStatistics]:
        """What the statistics prior reads about composites, and their Lab statistics (for fitting it)."""
        if not self.config.prior:
            raise ValueError("this model has no statistics prior")
        self._check_inputs(composite, mask)
        encoding = self._encode(composite, mask)
        return self._prior_inputs(composite, mask, encoding, self._kind_logits(encoding.summary))[0], encoding.stats

    @torch.no_grad()
    def mixer_inputs(
        self, composite: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the mixer reads about composites, and the two answers it mixes at the working
        size: the network's whole correction and the prior's answer (for fitting it)."""
        if not self.config.prior_mixer:
            raise ValueError("this model has no prior mixer")
        self._check_inputs(composite, mask)
        encoding = self._encode(composite, mask)
        network = self._network_mapping(encoding)
        kind_logits = self._kind_logits(encoding.summary)
        gate = self._gate(encoding.summary, kind_logits) if self.config.gate else None
        inputs, prior, whole = self._mixer_parts(composite, mask, encoding, kind_logits, network, gate)
        return inputs, whole.clamp(0, 1), prior.apply_to_lab(encoding.lab).clamp(0, 1)

    def _encode(self, composite: torch.Tensor, mask: torch.Tensor) -> _Encoding:
        """One pass of the network over the composite, and what its heads read besides."""
        cfg = self.config
        needs_stats = cfg.base != "identity" or cfg.classical_input or cfg.gate or cfg.prior
        lab = rgb_to_lab(composite.float()) if needs_stats else None
        stats = lab_image_statistics(lab, mask) if lab is not None else None
        classical_mapping = stats_mapping(stats, stats.bg_mean, stats.bg_std) if stats is not None else None
        inputs = [composite - 0.5, mask]
        if cfg.classical_input:
            classical = classical_mapping.apply_to_lab(lab).clamp(0, 1)
            inputs.append(classical.to(composite.dtype) - 0.5)
        features, levels = self._features(torch.cat(inputs, dim=1), mask)
        pooled = _region_means(features, mask)
        summary = torch.cat((pooled.float(), _described(stats)), dim=1) if cfg.base == "adaptive" or cfg.gate else None

        base_mapping: LabStatsMapping | None = None
        if cfg.base == "classical":
            base_mapping = classical_mapping
        elif cfg.base == "adaptive":
            base_mapping = self._adaptive_transfer(summary, stats)
        return _Encoding(features, pooled, base_mapping, summary, lab, stats, levels)

    def _grid_mapping(self, features: torch.Tensor, pooled: torch.Tensor) -> AffineGridMapping:
        """The mapping head: a global affine transform plus local corrections on the grid."""
        global_coeffs = identity_affine(features.shape[0], features.device) + self.global_head(pooled).float()
        return AffineGridMapping(global_coeffs[:, :, None, None] + self.local_head(features).float())

    def _network_mapping(self, encoding: _Encoding) -> ColourMapping:
        """The network's whole correction: its base, then the grid mapping."""
        grid = self._grid_mapping(encoding.features, encoding.pooled)
        return ChainMapping(encoding.base_mapping, grid) if encoding.base_mapping is not None else grid

    def _features(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """U-Net encoder and decoder with BAIN: the last decoder stage's features and, with
        ``prior_encoder``, every encoder level's foreground and background means."""
        skips = [x]
        for block in self.encoder:
            skips.append(block(skips[-1]))
        levels = None
        if self.config.prior and self.config.prior_encoder:
            levels = torch.cat([_region_means(level.float(), mask) for level in skips[1:]], dim=1)
        features = skips.pop()
        for stage in range(self.config.decoder_stages):
            if stage > 0:
                features = F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)
                features = self.decoder[stage - 1](torch.cat((features, skips.pop()), dim=1))
            if stage < self.config.bain_levels:
                features = self.bains[stage](features, F.adaptive_avg_pool2d(mask, features.shape[-2:]))
        return features, levels

    def _gate(
        self, summary: torch.Tensor, kind_logits: torch.Tensor | None, kinds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The share of the correction to apply, per image, in ``(0, 1)``.

        By kind: each kind's share weighted by how likely the composite is of that kind (its own
        kind's share when ``kinds`` is known). The kind head learns only to tell the kinds apart,
        from labels, and each share how far to go for its kind; a head free to chase the loss
        overfits the share to individual inputs instead (measured: a gate fitted directly on the
        same features did worse on the development set than one even share).
        """
        if kind_logits is not None:
            shares = torch.sigmoid(_GATE_GAIN * self.kind_shares.float())
            if kinds is not None:
                return shares[kinds]
            return torch.softmax(kind_logits.detach(), dim=1) @ shares
        logit = _GATE_OPEN + _GATE_GAIN * self.gate_head(summary).float()
        return torch.sigmoid(logit).squeeze(1)

    def _kind_logits(self, summary: torch.Tensor) -> torch.Tensor | None:
        """How much the composite looks like each kind of picture (with ``gate_kinds``), scaled up
        like the gate's logit so that a few hundred steps can teach it. It reads detached features:
        learning the kinds never changes the harmonization's own weights. Their statistics are
        gathered only while the kind head learns (a fine-tune on other pictures leaves them)."""
        if not self.config.gate_kinds:
            return None
        features = summary.detach().float()
        if self.training and self.kind_head.weight.requires_grad and features.shape[0] > 1:
            F.batch_norm(features, self.kind_mean, self.kind_var, training=True, momentum=_KIND_STATS_MOMENTUM)
        # Standardised by the running statistics even while learning: a batch's own would shift
        # with its mix of kinds, and take away what tells them apart.
        standard = F.batch_norm(features, self.kind_mean, self.kind_var, training=False)
        return _GATE_GAIN * self.kind_head(standard)

    def _prior_inputs(
        self, composite: torch.Tensor, mask: torch.Tensor, encoding: _Encoding, kind_logits: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What the prior reads, and what the mixer reads of it: all but the encoder's numbers."""
        likelihoods = torch.softmax(kind_logits.detach().float(), dim=1) if kind_logits is not None else None
        features = prior_features(encoding.lab, mask, encoding.stats)
        if self.config.prior_extremes:
            features = torch.cat((features, extreme_features(composite, mask)), dim=1)
        described = self.prior.inputs(features, likelihoods)
        if not self.config.prior_encoder:
            return described, described
        # Detached: the prior's fit never reaches the network.
        return self.prior.inputs(torch.cat((features, encoding.levels.detach()), dim=1), likelihoods), described

    def _prior_mapping(
        self, composite: torch.Tensor, mask: torch.Tensor, encoding: _Encoding, kind_logits: torch.Tensor | None,
    ) -> LabStatsMapping:
        change = self.prior(self._prior_inputs(composite, mask, encoding, kind_logits)[0])
        return self.prior.mapping(change, encoding.stats, self.config.prior_strength, self.config.prior_dead_zone)

    def _mixer_parts(
        self, composite: torch.Tensor, mask: torch.Tensor, encoding: _Encoding, kind_logits: torch.Tensor | None,
        network: ColourMapping, gate: torch.Tensor | None,
    ) -> tuple[torch.Tensor, LabStatsMapping, torch.Tensor]:
        """The mixer's inputs, the prior's Lab transfer (at ``prior_strength``, past its dead zone)
        and the network's whole correction applied to the composite."""
        lab, stats = encoding.lab, encoding.stats
        share = torch.ones(composite.shape[0], device=composite.device) if gate is None else gate.float()
        prior_inputs, described = self._prior_inputs(composite, mask, encoding, kind_logits)
        change = self.prior(prior_inputs)
        whole = _applied(network, composite, lab)
        answered = torch.lerp(composite.float(), whole, share.view(-1, 1, 1, 1)).clamp(0, 1)
        network_change = change_of_statistics(stats, lab_statistics(answered, mask))
        inputs = self.prior_mixer.inputs(described, network_change, share, change)
        prior = self.prior.mapping(change, stats, self.config.prior_strength, self.config.prior_dead_zone)
        return inputs, prior, whole

    def _mixed_by_mixer(
        self, composite: torch.Tensor, mask: torch.Tensor, encoding: _Encoding, kind_logits: torch.Tensor | None,
        network: ColourMapping, gate: torch.Tensor | None,
    ) -> GatedMapping:
        """The network's whole correction and the prior's, mixed in the shares the mixer chooses."""
        inputs, prior, _ = self._mixer_parts(composite, mask, encoding, kind_logits, network, gate)
        total, weight = self.prior_mixer(inputs)
        return GatedMapping(BlendMapping(network, prior, weight), total)

    def gate_parameters(self) -> list[nn.Parameter]:
        """The weights that choose the share (empty without a gate)."""
        if self.config.gate_kinds:
            return [*self.kind_head.parameters(), self.kind_shares]
        return list(self.gate_head.parameters()) if self.config.gate else []

    def _adaptive_transfer(self, summary: torch.Tensor, stats: LabStatistics) -> LabStatsMapping:
        """A Lab statistics transfer whose strength and target the network chooses per channel.

        The foreground's target mean and log-spread are pulled from its own toward the background's
        by predicted fractions, plus predicted offsets; all zero (the identity) at initialisation.
        The explicit statistics let a small head learn this regression far faster than the
        convolutional features alone would.
        """
        fg_log_std, bg_log_std = _log_spreads(stats)
        params = self.transfer_head(summary).float()
        mean_pull, mean_offset, std_pull, std_offset = params.chunk(4, dim=1)
        target_mean = stats.fg_mean + mean_pull * (stats.bg_mean - stats.fg_mean) + 10 * mean_offset
        target_log_std = fg_log_std + std_pull * (bg_log_std - fg_log_std) + std_offset
        return stats_mapping(stats, target_mean, target_log_std.exp())


def with_gate(model: SCSCoGenerator, kinds: int = 0) -> SCSCoGenerator:
    """A copy of ``model`` grown a gate (chosen among ``kinds`` kinds of picture, if any; a gate it
    has is replaced), for fine-tuning it into a gated one. The gate starts at the same share for
    every input: 95%, so the fine-tune begins from nearly the model's answers, or by kind 50%. A
    statistics prior and its mixer are kept only with the same kinds."""
    # A prior reads the kinds' likelihoods: with other kinds it would have to be fitted again.
    keeps_prior = model.config.prior and kinds == model.config.gate_kinds
    config = replace(model.config, gate=True, gate_kinds=kinds, prior=keeps_prior,
                     prior_mixer=keeps_prior and model.config.prior_mixer)
    replaced = ("gate_head.", "kind_") if keeps_prior else ("gate_head.", "kind_", "prior.", "prior_mixer.")
    return _regrown(model, config, replaced, "a gate")


def with_prior(model: SCSCoGenerator, **settings: float | bool | int) -> SCSCoGenerator:
    """A copy of ``model`` grown an unfitted statistics prior (one it has, and its mixer, are
    replaced), with the ``prior_*`` ``settings`` of :class:`GeneratorConfig` given, for fitting it
    (``trainer.prior``). Until then it predicts no change, so its part of the answer is the composite."""
    config = replace(model.config, prior=True, prior_mixer=False, **settings)
    return _regrown(model, config, ("prior.", "prior_mixer."), "a prior")


def prior_settings(config: GeneratorConfig) -> dict[str, float | bool | int]:
    """``config``'s settings of how a statistics prior is built and applied: what :func:`with_prior`
    takes (its mixer is grown apart, by :func:`with_mixer`)."""
    return {field.name: getattr(config, field.name) for field in fields(config)
            if field.name.startswith("prior_") and field.name != "prior_mixer"}


def with_mixer(model: SCSCoGenerator) -> SCSCoGenerator:
    """A copy of ``model``, which has a fitted statistics prior, grown an unfitted mixer (one it has
    is replaced), for fitting it (``trainer.prior``). Until then it applies half of an even mix of the two."""
    if not model.config.prior:
        raise ValueError("a prior mixer needs a model with a fitted statistics prior (fit one with --prior-only)")
    return _regrown(model, replace(model.config, prior_mixer=True), ("prior_mixer.",), "a prior mixer")


def _regrown(model: SCSCoGenerator, config: GeneratorConfig, replaced: tuple[str, ...], what: str) -> SCSCoGenerator:
    """A model of ``config`` with ``model``'s weights, but for those under the ``replaced`` prefixes."""
    grown = SCSCoGenerator(config)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith(replaced)}
    missing, unexpected = grown.load_state_dict(weights, strict=False)
    if unexpected or any(not key.startswith(replaced) for key in missing):
        raise RuntimeError(f"cannot grow {what} on this model: missing {missing}, unexpected {unexpected}")
    return grown.to(next(model.parameters()).device)


def _applied(network: ColourMapping, composite: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
    """``network.apply(composite)``, its leading Lab transfer (the adaptive base) reading the
    composite's ``lab``, already converted."""
    split = network.lab_start() if isinstance(network, ChainMapping) else None
    if split is None:
        return network.apply(composite.float())
    start, rest = split
    return rest.apply(start.apply_to_lab(lab))


def _mixed_with_prior(
    network: ColourMapping, share: torch.Tensor | None, prior: LabStatsMapping, weight: float
) -> GatedMapping:
    """``1 - weight`` of the network's answer at its own share (all of it without a gate) plus
    ``weight`` of the prior's, as one gated mapping whose share is what the two make together: the
    app's strength then scales and caps the mix like any gated model's answer."""
    share = torch.ones_like(prior.scale[:, 0]) if share is None else share.float()
    total = ((1 - weight) * share + weight).clamp(min=1e-6)
    return GatedMapping(BlendMapping(network, prior, weight / total), total)


def _described(stats: LabStatistics) -> torch.Tensor:
    """The foreground's and background's Lab means and log-spreads, and their differences, on
    scales near 1: ``(B, 18)``."""
    fg_log_std, bg_log_std = _log_spreads(stats)
    return torch.cat((
        stats.fg_mean / 50, stats.bg_mean / 50, (stats.bg_mean - stats.fg_mean) / 50,
        fg_log_std, bg_log_std, bg_log_std - fg_log_std,
    ), dim=1)


def _log_spreads(stats: LabStatistics) -> tuple[torch.Tensor, torch.Tensor]:
    """The foreground's and background's Lab log-spreads."""
    return log_spread(stats.fg_std), log_spread(stats.bg_std)
