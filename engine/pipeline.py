"""Full-resolution harmonization of one composite of any size and aspect ratio.

The harmonizer sees a square working-size copy of the composite, or of a crop around the
foreground when the foreground is small, and answers with a colour mapping. The mapping is then
applied to the original pixels inside the foreground's bounding box, in row chunks that bound
memory (on the CPU with OpenCV on the numpy pixels, elsewhere with tensors), and blended with the
mask. Pixels outside the mask are copied bit for bit.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine import mapping_arrays
from engine.box import Box
from engine.cpu_work import row_bands, worker_threads
from engine.harmonizer import Harmonizer
from engine.mapping import ColourMapping, Window

CHUNK_PIXELS = 1 << 20  # full-resolution pixels mapped per step, at most
# Until OpenCV's Lab tables are built (0.1-0.3 s, on first use), smaller boxes are mapped with
# tensors on the CPU too: a one-off command line run on a small picture stays quick.
ARRAY_MIN_PIXELS = 1 << 16
CONTEXT = 1.0  # background margin around a small foreground, in foreground box sizes
DEFAULT_STRENGTH = 1.0  # the model's correction in full; 0 is the composite
# Above 1, a model with a gate (which chose to apply only part of its correction) applies more,
# up to the whole of it; for other models anything above 1 is 1.
MAX_STRENGTH = 2.0


def foreground_box(mask: np.ndarray) -> Box | None:
    """Bounding box of the mask's non-zero pixels, or None when it has none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def _span(start: int, stop: int, margin: int, limit: int) -> tuple[int, int]:
    """Grow ``[start, stop)`` by ``margin`` each side, shifted (not cut) to stay in ``[0, limit)``."""
    length = min(stop - start + 2 * margin, limit)
    begin = min(max(start - margin, 0), limit - length)
    return begin, begin + length


def working_crop(box: Box, height: int, width: int, context: float = CONTEXT) -> Box:
    """The part of the image the harmonizer looks at: the foreground plus background context."""
    margin = int(round(context * max(box.height, box.width)))
    top, bottom = _span(box.top, box.bottom, margin, height)
    left, right = _span(box.left, box.right, margin, width)
    return Box(top, left, bottom, right)


def applied_share(strength: float, share: float) -> float:
    """How much of a model's whole correction a blend at ``strength`` applies, where the model chose
    ``share`` of it (its gate; 1 without one): ``strength x share``, never beyond all of it."""
    return min(strength * share, 1.0)


def mask_coverage_note(mask: np.ndarray) -> str | None:
    """What a user should be told about a mask that leaves nothing to harmonize or nothing to match
    it to; None for a mask with both a foreground and a background."""
    if not (mask > 0).any():
        return "the mask is empty: there is nothing to harmonize"
    if (mask >= 1).all():
        return "the mask covers the whole image: there is no background to match the foreground to"
    return None


def _check_inputs(composite: np.ndarray, mask: np.ndarray, strength: float) -> None:
    if composite.ndim != 3 or composite.shape[2] != 3 or composite.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"composite must be an (H, W, 3) uint8 or uint16 array, got {composite.shape} {composite.dtype}")
    if mask.shape != composite.shape[:2]:
        raise ValueError(
            f"mask is {mask.shape[1]}x{mask.shape[0]} but the composite is "
            f"{composite.shape[1]}x{composite.shape[0]}; resize the mask to match"
        )
    if not np.isfinite(mask).all():
        raise ValueError("mask contains NaN or infinite values")
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise ValueError(f"strength must be between 0 and {MAX_STRENGTH:g}, got {strength}")


def _to_tensor(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(H, W, C)`` uint8/uint16/float array -> ``(1, C, H, W)`` float32 in ``[0, 1]``."""
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(pixels.dtype, 1.0)
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(-1)
    return tensor.permute(2, 0, 1).unsqueeze(0).float() / scale


def _area_pieces(pixels: np.ndarray, size: int) -> tuple[int, list[tuple[np.ndarray, tuple[int, int]]]]:
    """``pixels`` cut in two for an area resize to ``size x size``, each piece with its output size,
    and the axis to stack the resized pieces along.

    The cut falls where an output pixel's edge meets a source pixel's edge (near the middle of the
    rows, else of the columns), so the stacked pieces are exactly the resize of the whole. Without
    such a place, or when enlarging, the one piece is the whole.
    """
    if min(pixels.shape[:2]) >= size:
        for axis in (0, 1):
            length = pixels.shape[axis]
            step = size // math.gcd(length, size)
            if step < size:
                cut = max(step, round(size / 2 / step) * step)
                at = cut * length // size
                if axis == 0:
                    return axis, [(pixels[:at], (size, cut)), (pixels[at:], (size, size - cut))]
                return axis, [(pixels[:, :at], (cut, size)), (pixels[:, at:], (size - cut, size))]
    return 0, [(pixels, (size, size))]


def _area_resize(images: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Each image area-resized to ``size x size`` (OpenCV's ``INTER_AREA``), side by side on the
    worker threads: OpenCV resizes to a picture this small on one core only."""
    cuts = [_area_pieces(image, size) for image in images]
    jobs = [job for _, pieces in cuts for job in pieces]
    done = iter(worker_threads().map(lambda job: cv2.resize(job[0], job[1], interpolation=cv2.INTER_AREA), jobs))
    return [np.concatenate([next(done) for _ in pieces], axis=axis) for axis, pieces in cuts]


def predict_crop_mapping(
    harmonizer: Harmonizer, composite: np.ndarray, mask: np.ndarray, crop: Box
) -> ColourMapping:
    """Ask the harmonizer about a working-size copy of ``crop``."""
    region = (slice(crop.top, crop.bottom), slice(crop.left, crop.right))
    rgb, small_mask = _area_resize([composite[region], mask[region]], harmonizer.working_size)
    device = harmonizer.device
    mapping = harmonizer.predict_mapping(_to_tensor(rgb, device), _to_tensor(np.clip(small_mask, 0, 1), device))
    return mapping.to(device, torch.float32)


def _row_chunks(box: Box, cores: int = 1) -> Iterator[Box]:
    """Row ranges of ``box``, as even as rows allow: as few as hold about ``CHUNK_PIXELS`` pixels
    at most, but two per core at least (chunks narrowed to their own part of the mask leave out
    more), in a multiple of ``cores`` so that every core gets as many."""
    needed = -(-box.height * box.width // CHUNK_PIXELS)
    count = min(max(-(-needed // cores), 2 if cores > 1 else 1) * cores, box.height)
    rows_per_chunk = -(-box.height // count)
    for top in range(box.top, box.bottom, rows_per_chunk):
        yield Box(top, box.left, min(top + rows_per_chunk, box.bottom), box.right)


def _window(part: Box, crop: Box) -> Window:
    """Where ``part`` lies in ``crop``'s normalised coordinates."""
    return Window(
        (part.top - crop.top) / crop.height,
        (part.left - crop.left) / crop.width,
        (part.bottom - crop.top) / crop.height,
        (part.right - crop.left) / crop.width,
    )


def _blend_on_cpu(mapping: ColourMapping, original: np.ndarray, weight: np.ndarray, window: Window, strength: float) -> np.ndarray:
    """``original + alpha * (mapped - original)`` in code values, rounded to ``original``'s dtype.

    Where ``alpha`` is 0 this is ``original`` exactly: mapped colours are made finite (NaN -> 0) and
    clipped first, and an integer in float32 plus zero rounds back to itself. The passes run on
    row bands of the mapped colours, each while it is in the cache.
    """
    top = np.float32(np.iinfo(original.dtype).max)
    mapped = mapping.apply_array(original, window)
    result = np.empty_like(original)
    for rows in row_bands(*original.shape[:2]):
        band = mapped[rows]
        cv2.patchNaNs(band, 0.0)
        np.clip(band, 0.0, 1.0, out=band)
        band *= top
        values = original[rows].astype(np.float32)
        band -= values
        alpha = np.clip(weight[rows], 0.0, 1.0) * np.float32(strength)
        band *= cv2.merge((alpha, alpha, alpha))  # not alpha[..., None]: numpy broadcasts that slowly
        band += values
        result[rows] = np.rint(band, out=band)
    return result


def _blend_with_torch(
    mapping: ColourMapping, original: np.ndarray, weight: np.ndarray, window: Window, strength: float, device: torch.device
) -> np.ndarray:
    """The same as :func:`_blend_on_cpu` with tensors, for GPUs."""
    scale = float(np.iinfo(original.dtype).max)
    with torch.inference_mode():
        x = _to_tensor(original, device)
        mapped = mapping.apply(x, window).nan_to_num_(0.0).clamp_(0, 1)
        alpha = _to_tensor(weight, device).clamp_(0, 1) * strength
        blended = (x + alpha * (mapped - x)).mul_(scale).round_()
        return blended.squeeze(0).permute(1, 2, 0).cpu().numpy().astype(original.dtype)


def _copy_around(result: np.ndarray, composite: np.ndarray, outer: Box, inner: Box | None) -> None:
    """Copy ``composite``'s pixels inside ``outer`` but outside ``inner`` (all of them without one) to ``result``."""
    if inner is None:
        inner = Box(outer.top, outer.left, outer.top, outer.left)
    sides = [
        (slice(outer.top, inner.top), slice(outer.left, outer.right)),
        (slice(inner.bottom, outer.bottom), slice(outer.left, outer.right)),
        (slice(inner.top, inner.bottom), slice(outer.left, inner.left)),
        (slice(inner.top, inner.bottom), slice(inner.right, outer.right)),
    ]
    for side in sides:
        result[side] = composite[side]


def apply_mapping(
    mapping: ColourMapping,
    composite: np.ndarray,
    mask: np.ndarray,
    box: Box,
    crop: Box,
    device: torch.device,
    strength: float = DEFAULT_STRENGTH,
) -> np.ndarray:
    """Map the pixels of ``box`` at full resolution and blend them in; everything else is copied.

    The box is mapped in row chunks, each only where its own part of the mask is. On the CPU the
    mapping runs on the numpy pixels with OpenCV (:meth:`ColourMapping.apply_array`), chunks on all
    cores, unless the box is small and OpenCV's Lab tables are not built yet; elsewhere with
    tensors on ``device``.
    """
    mapping, share = mapping.blend()  # a gated mapping's share is a blend weight, like the strength
    strength = applied_share(strength, share)
    result = np.empty_like(composite)
    with_arrays = device.type == "cpu" and (
        box.height * box.width >= ARRAY_MIN_PIXELS or mapping_arrays.lab_tables_built()
    )

    def blend(chunk: Box) -> None:
        inner = foreground_box(mask[chunk.top : chunk.bottom, chunk.left : chunk.right] > 0)
        if inner is not None:
            inner = Box(chunk.top + inner.top, chunk.left + inner.left, chunk.top + inner.bottom, chunk.left + inner.right)
        _copy_around(result, composite, chunk, inner)
        if inner is None:
            return
        region = (slice(inner.top, inner.bottom), slice(inner.left, inner.right))
        original, weight, window = composite[region], mask[region], _window(inner, crop)
        if with_arrays:
            pixels = _blend_on_cpu(mapping, original, weight, window, strength)
        else:
            pixels = _blend_with_torch(mapping, original, weight, window, strength, device)
        result[region] = pixels  # unmasked pixels come back unchanged

    everything = Box(0, 0, *composite.shape[:2])
    chunks = list(_row_chunks(box, (os.cpu_count() or 1) if with_arrays else 1))
    if with_arrays and len(chunks) > 1:
        outside = worker_threads().submit(_copy_around, result, composite, everything, box)
        list(worker_threads().map(blend, chunks))
        outside.result()
    else:
        _copy_around(result, composite, everything, box)
        for chunk in chunks:
            blend(chunk)
    return result


@dataclass(frozen=True)
class Prediction:
    """The harmonizer's answer for one composite: its mapping, and the boxes it applies to.

    Attributes:
        mapping: the colour mapping, on the harmonizer's device.
        box: the foreground's bounding box, the only pixels it changes.
        crop: the part of the composite the harmonizer looked at (the mapping's coordinates).
    """

    mapping: ColourMapping
    box: Box
    crop: Box


def predict(harmonizer: Harmonizer, composite: np.ndarray, mask: np.ndarray, context: float = CONTEXT) -> Prediction | None:
    """Ask the harmonizer about a composite; None when the mask is empty (nothing to change)."""
    box = foreground_box(mask > 0)
    if box is None:
        return None
    crop = working_crop(box, *mask.shape, context)
    return Prediction(predict_crop_mapping(harmonizer, composite, mask, crop), box, crop)


def apply_prediction(
    prediction: Prediction | None,
    composite: np.ndarray,
    mask: np.ndarray,
    device: torch.device,
    strength: float = DEFAULT_STRENGTH,
) -> np.ndarray:
    """The composite with its foreground harmonized at ``strength``; a copy when there is nothing to do."""
    if prediction is None or strength == 0.0:
        return composite.copy()
    return apply_mapping(prediction.mapping, composite, mask, prediction.box, prediction.crop, device, strength)


def harmonize_array(
    harmonizer: Harmonizer,
    composite: np.ndarray,
    mask: np.ndarray,
    strength: float = DEFAULT_STRENGTH,
    context: float = CONTEXT,
) -> np.ndarray:
    """Harmonize a full-resolution composite.

    Args:
        harmonizer: what predicts the colour mapping.
        composite: ``(H, W, 3)`` uint8 or uint16 RGB.
        mask: ``(H, W)`` float foreground weights in ``[0, 1]``.
        strength: blend between the composite (0) and the model's harmonized foreground (1);
            up to ``MAX_STRENGTH``, more of a gated model's correction than it chose.
        context: background margin around a small foreground, in foreground box sizes.

    Returns:
        ``(H, W, 3)`` array of ``composite``'s dtype; background pixels are bit-identical.
    """
    _check_inputs(composite, mask, strength)
    mask = mask.astype(np.float32, copy=False)
    prediction = predict(harmonizer, composite, mask, context) if strength > 0.0 else None
    return apply_prediction(prediction, composite, mask, harmonizer.device, strength)
