"""sRGB <-> CIE Lab conversion on tensors (D65 white point), differentiable and batched.

Shapes follow the ``(..., 3, H, W)`` convention: the colour axis is third from the end.
RGB values are in ``[0, 1]``; L is in ``[0, 100]``, a and b roughly in ``[-128, 127]``.
"""
from __future__ import annotations

import torch

_RGB_TO_XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = torch.tensor([0.950456, 1.0, 1.088754])
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)  # Rec. 709: a pixel's luminance from its R, G, B
_EPSILON = 0.008856  # (6/29)^3
_KAPPA = 7.787  # (29/6)^2 / 3


def _check_shape(image: torch.Tensor) -> None:
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"expected a tensor of shape (..., 3, H, W), got {tuple(image.shape)}")


def _mix(image: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    matrix = matrix.to(device=image.device, dtype=image.dtype)
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve."""
    return torch.where(rgb > 0.04045, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve."""
    return torch.where(
        linear > 0.0031308, 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear
    )


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Convert sRGB in ``[0, 1]`` to CIE Lab.

    Args:
        rgb: tensor of shape ``(..., 3, H, W)``.

    Returns:
        Lab tensor of the same shape.
    """
    _check_shape(rgb)
    xyz = _mix(srgb_to_linear(rgb.clamp(0.0, 1.0)), _RGB_TO_XYZ)
    xyz = xyz / _WHITE_D65.to(rgb).view(3, 1, 1)
    f = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1 / 3), _KAPPA * xyz + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    lab = torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=-3)
    return lab


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """Convert CIE Lab back to sRGB in ``[0, 1]`` (clipped unless ``clip`` is False).

    Args:
        lab: tensor of shape ``(..., 3, H, W)``.

    Returns:
        sRGB tensor of the same shape.
    """
    _check_shape(lab)
    l, a, b = lab.unbind(-3)
    fy = (l + 16) / 116
    f = torch.stack((fy + a / 500, fy, fy - b / 200), dim=-3)
    xyz = torch.where(f > 6 / 29, f**3, (f - 4 / 29) / _KAPPA)
    xyz = xyz * _WHITE_D65.to(lab).view(3, 1, 1)
    linear = _mix(xyz, torch.linalg.inv(_RGB_TO_XYZ)).clamp(min=0.0)
    rgb = linear_to_srgb(linear)
    return rgb.clamp(0.0, 1.0) if clip else rgb
