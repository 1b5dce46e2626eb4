"""Colour mappings: how a harmonizer's answer is carried from its working size to any resolution.

A harmonizer looks at a small copy of the composite and answers with a *mapping* from composite
colours to harmonized colours. A mapping is a function of a pixel's colour and (for local
mappings) of its position in the working crop, so it is applied to the full-resolution pixels
directly: edges and texture come from the original image, never from an upscaled output.

Positions are normalised to the working crop: ``(0, 0)`` is its top-left corner and ``(1, 1)``
its bottom-right one. A :class:`Window` says where a block of pixels lies in those coordinates.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine import mapping_arrays
from engine.color import rgb_to_lab
from engine.color_transfer import apply_stats_transfer

AFFINE_PARAMS = 12  # a 3x4 matrix per position: rows are output channels, the last column an offset


@dataclass(frozen=True)
class Window:
    """The rectangle a block of pixels covers, in normalised crop coordinates."""

    top: float = 0.0
    left: float = 0.0
    bottom: float = 1.0
    right: float = 1.0


class ColourMapping(ABC):
    """A batch of colour mappings, one per image."""

    @abstractmethod
    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        """Map colours.

        Args:
            rgb: ``(B, 3, H, W)`` colours in ``[0, 1]`` covering ``window`` of the crop.
            window: where the pixels lie in the working crop.

        Returns:
            ``(B, 3, H, W)`` mapped colours (not clipped; callers clip).
        """

    @abstractmethod
    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        """Map one image's colours on the CPU, the fast way (see :mod:`engine.mapping_arrays`).

        Args:
            pixels: ``(H, W, 3)`` uint8/uint16 code values or float32 in ``[0, 1]``.
            window: where the pixels lie in the working crop.

        Returns:
            ``(H, W, 3)`` float32 mapped colours in ``[0, 1]`` units (not clipped), equal to
            :meth:`apply` within float rounding and OpenCV's Lab approximations.
        """

    @abstractmethod
    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> ColourMapping:
        """The same mapping with its parameters on another device or dtype."""

    def blend(self) -> tuple[ColourMapping, float]:
        """For one image: a mapping and the share of its change this one makes (1: all of it)."""
        return self, 1.0


def identity_affine(batch: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(batch, 12)`` parameters of the identity colour transform."""
    eye = torch.eye(3, 4, device=device).reshape(AFFINE_PARAMS)
    return eye.expand(batch, AFFINE_PARAMS).clone()


def apply_affine(rgb: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Apply per-pixel (or broadcast) 3x4 affine colour transforms.

    Args:
        rgb: ``(B, 3, H, W)``.
        coeffs: ``(B, 12, H, W)`` or ``(B, 12, 1, 1)``.
    """
    b = rgb.shape[0]
    a = coeffs.reshape(b, 3, 4, *coeffs.shape[-2:])
    return (a[:, :, :3] * rgb.unsqueeze(1)).sum(2) + a[:, :, 3]


def _single(parameters: torch.Tensor) -> torch.Tensor:
    """The only item of a batch of one, as float32 on the CPU."""
    if parameters.shape[0] != 1:
        raise ValueError(f"apply_array maps one image; these parameters hold a batch of {parameters.shape[0]}")
    return parameters[0].detach().to("cpu", torch.float32)


def _lerp_into(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start + weight * (end - start)``, computed in ``end``'s memory (no temporary the size of the image)."""
    end -= start
    end *= np.float32(weight)
    end += start
    return end


def _lab_transfer(mapping: LabStatsMapping) -> tuple[np.ndarray, np.ndarray]:
    """One image's Lab transfer as ``(scale, shift)`` arrays."""
    return _single(mapping.scale).numpy(), _single(mapping.shift).numpy()


def _window_grid(window: Window, height: int, width: int, device: torch.device) -> torch.Tensor:
    """Sampling grid (1, H, W, 2) of pixel centres in ``grid_sample``'s [-1, 1] convention."""
    ys = window.top + (torch.arange(height, device=device) + 0.5) / height * (window.bottom - window.top)
    xs = window.left + (torch.arange(width, device=device) + 0.5) / width * (window.right - window.left)
    gy, gx = torch.meshgrid(ys * 2 - 1, xs * 2 - 1, indexing="ij")
    return torch.stack((gx, gy), dim=-1).unsqueeze(0)


class AffineGridMapping(ColourMapping):
    """Spatially varying affine colour transforms on a coarse grid, interpolated bilinearly.

    Args:
        coeffs: ``(B, 12, GH, GW)`` parameters; grid nodes sit at cell centres of a ``GH x GW``
            partition of the crop. A ``1 x 1`` grid is a global affine transform.
    """

    def __init__(self, coeffs: torch.Tensor) -> None:
        if coeffs.dim() != 4 or coeffs.shape[1] != AFFINE_PARAMS:
            raise ValueError(f"expected coefficients of shape (B, 12, GH, GW), got {tuple(coeffs.shape)}")
        self.coeffs = coeffs

    def coefficients_at(self, window: Window, height: int, width: int) -> torch.Tensor:
        """``(B, 12, height, width)`` parameters at the pixel centres of ``window``."""
        gh, gw = self.coeffs.shape[-2:]
        if gh == 1 and gw == 1:
            return self.coeffs
        full = window == Window()
        if full:
            return F.interpolate(self.coeffs, size=(height, width), mode="bilinear", align_corners=False)
        grid = _window_grid(window, height, width, self.coeffs.device).to(self.coeffs.dtype)
        grid = grid.expand(self.coeffs.shape[0], -1, -1, -1)
        return F.grid_sample(self.coeffs, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        coeffs = self.coefficients_at(window, rgb.shape[-2], rgb.shape[-1])
        return apply_affine(rgb, coeffs.to(rgb.dtype))

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        coeffs = _single(self.coeffs).numpy()
        return mapping_arrays.affine_grid(pixels, coeffs, (window.top, window.left, window.bottom, window.right))

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> AffineGridMapping:
        return AffineGridMapping(self.coeffs.to(device=device, dtype=dtype))


class LabStatsMapping(ColourMapping):
    """A per-channel linear transform in CIE Lab (the classical statistics transfer).

    Args:
        scale: ``(B, 3)`` multipliers of L, a, b.
        shift: ``(B, 3)`` offsets added after scaling.
    """

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        if scale.shape != shift.shape or scale.dim() != 2 or scale.shape[1] != 3:
            raise ValueError(f"expected scale and shift of shape (B, 3), got {tuple(scale.shape)}, {tuple(shift.shape)}")
        self.scale = scale
        self.shift = shift

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        return self.apply_to_lab(rgb_to_lab(rgb))

    def apply_to_lab(self, lab: torch.Tensor) -> torch.Tensor:
        """:meth:`apply` to pictures already converted to Lab; sRGB comes out."""
        return apply_stats_transfer(lab, self.scale.to(lab), self.shift.to(lab))

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        return mapping_arrays.lab_stats(pixels, *_lab_transfer(self))

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> LabStatsMapping:
        return LabStatsMapping(self.scale.to(device=device, dtype=dtype), self.shift.to(device=device, dtype=dtype))


class ChainMapping(ColourMapping):
    """Mappings applied one after another, first to last."""

    def __init__(self, *mappings: ColourMapping) -> None:
        self.mappings = mappings

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        for mapping in self.mappings:
            rgb = mapping.apply(rgb, window)
        return rgb

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        for mapping in self.mappings:
            pixels = mapping.apply_array(pixels, window)
        return pixels

    def lab_start(self) -> tuple[LabStatsMapping, ChainMapping] | None:
        """The chain's leading Lab transfer and the rest of it, when it starts with one: a caller
        that holds the pixels in Lab already applies the first from there."""
        start, *rest = self.mappings
        return (start, ChainMapping(*rest)) if isinstance(start, LabStatsMapping) else None

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> ChainMapping:
        return ChainMapping(*(m.to(device, dtype) for m in self.mappings))


class GatedMapping(ColourMapping):
    """A share ``gate`` of another mapping's change: ``x + gate * (inner(x) - x)``, per image.

    The gate is a blend weight like the app's strength, so the pipeline folds it into its blend
    (:meth:`blend`) instead of spending a pass over the pixels on it.
    """

    def __init__(self, inner: ColourMapping, gate: torch.Tensor) -> None:
        if gate.dim() != 1:
            raise ValueError(f"expected one gate per image (B,), got {tuple(gate.shape)}")
        self.inner = inner
        self.gate = gate

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        return torch.lerp(rgb, self.inner.apply(rgb, window), self.gate.view(-1, 1, 1, 1).to(rgb.dtype))

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        original = mapping_arrays.to_float(pixels)
        return _lerp_into(original, self.inner.apply_array(pixels, window), _single(self.gate).item())

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> GatedMapping:
        return GatedMapping(self.inner.to(device, dtype), self.gate.to(device=device, dtype=dtype))

    def blend(self) -> tuple[ColourMapping, float]:
        return self.inner, float(_single(self.gate).item())


class BlendMapping(ColourMapping):
    """Two mappings' answers mixed per image: ``(1 - weight) * first(x) + weight * second(x)``."""

    def __init__(self, first: ColourMapping, second: ColourMapping, weight: torch.Tensor) -> None:
        if weight.dim() != 1:
            raise ValueError(f"expected one weight per image (B,), got {tuple(weight.shape)}")
        self.first = first
        self.second = second
        self.weight = weight

    def apply(self, rgb: torch.Tensor, window: Window = Window()) -> torch.Tensor:
        weight = self.weight.view(-1, 1, 1, 1).to(rgb.dtype)
        return torch.lerp(self.first.apply(rgb, window), self.second.apply(rgb, window), weight)

    def apply_array(self, pixels: np.ndarray, window: Window = Window()) -> np.ndarray:
        weight = _single(self.weight).item()
        shared = self._shared_lab_transfer()
        if shared is None:
            first = self.first.apply_array(pixels, window)
            return _lerp_into(first, self.second.apply_array(pixels, window), weight)
        # A chain starting with a Lab transfer mixed with another Lab transfer (the generator's
        # answer with its statistics prior): both read the pixels in Lab, converted once.
        start, rest = shared
        first, second = mapping_arrays.lab_stats_many(pixels, [_lab_transfer(start), _lab_transfer(self.second)])
        return _lerp_into(rest.apply_array(first, window), second, weight)

    def _shared_lab_transfer(self) -> tuple[LabStatsMapping, ChainMapping] | None:
        """The first mapping's leading Lab transfer and the rest of it, when the second is a Lab transfer too."""
        if not isinstance(self.second, LabStatsMapping) or not isinstance(self.first, ChainMapping):
            return None
        return self.first.lab_start()

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> BlendMapping:
        weight = self.weight.to(device=device, dtype=dtype)
        return BlendMapping(self.first.to(device, dtype), self.second.to(device, dtype), weight)


def fit_affine_grid(
    source: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    grid: int = 16,
    smoothness: float = 1e-3,
) -> AffineGridMapping:
    """Fit local affine colour models from ``source`` to ``target`` over the foreground.

    Guided-filter style: each grid node solves a weighted ridge regression over the foreground
    pixels of its neighbourhood (its cell and half of each neighbour), pulled towards the affine
    fitted on the whole foreground. Cells with little foreground or flat colour follow the
    global fit instead of guessing.

    Args:
        source: ``(B, 3, H, W)`` composite colours.
        target: ``(B, 3, H, W)`` harmonized colours at the same size.
        mask: ``(B, 1, H, W)`` foreground weights in ``[0, 1]``.
        grid: number of grid cells along each side.
        smoothness: ridge weight towards the global fit (and the global fit towards identity).

    Returns:
        An :class:`AffineGridMapping` with a ``grid x grid`` coefficient grid.
    """
    if source.shape != target.shape or source.shape[1] != 3 or mask.shape[1] != 1:
        raise ValueError(f"shapes differ: source {tuple(source.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)}")
    b = source.shape[0]
    ones = torch.ones_like(source[:, :1])
    x = torch.cat((source, ones), dim=1)  # (B, 4, H, W)
    w = mask.clamp(0, 1)
    # Per-pixel moments: x x^T (16) and x y^T (12), weighted by the mask.
    xx = (x.unsqueeze(2) * x.unsqueeze(1)).flatten(1, 2) * w
    xy = (x.unsqueeze(2) * target.unsqueeze(1)).flatten(1, 2) * w
    moments = torch.cat((xx, xy), dim=1)

    eye4 = torch.eye(4, device=source.device, dtype=source.dtype)
    identity = eye4[:3].T.expand(b, 4, 3)  # A^T of the identity transform

    def solve(m: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        # m: (B, 28, ...) moments flattened to (B, N, 28); prior: (B, N, 4, 3) broadcast A^T.
        sxx = m[:, :16].reshape(b, 4, 4, -1).permute(0, 3, 1, 2)
        sxy = m[:, 16:].reshape(b, 4, 3, -1).permute(0, 3, 1, 2)
        at = torch.linalg.solve(sxx + smoothness * eye4, sxy + smoothness * prior)
        return at  # (B, N, 4, 3)

    # The global fit averages over the foreground only; local cells average over all their
    # pixels, so a cell with little foreground has weak moments and leans on the global fit.
    fg_weight = w.sum(dim=(2, 3)).clamp(min=1e-6)
    global_moments = moments.sum(dim=(2, 3)) / fg_weight
    global_at = solve(global_moments.unsqueeze(-1), identity.unsqueeze(1))  # (B, 1, 4, 3)
    cells = F.adaptive_avg_pool2d(moments, grid * 2)
    cells = F.avg_pool2d(F.pad(cells, (1, 1, 1, 1), mode="replicate"), kernel_size=4, stride=2)
    local_at = solve(cells.flatten(2), global_at)  # (B, G*G, 4, 3)
    coeffs = local_at.transpose(2, 3).reshape(b, grid, grid, AFFINE_PARAMS).permute(0, 3, 1, 2)
    return AffineGridMapping(coeffs.contiguous())
