"""Rendering previews: a strength change reuses the last composite and prediction; the layer texture."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from engine.harmonizer import ClassicalHarmonizer
from engine.mapping import GatedMapping
from engine.pipeline import harmonize_array
from harmonizer_gui.document.compose import LayerTransform, layer_matrix
from harmonizer_gui.document.render import _MIN_ALPHA, _SPREAD_SIGMA, PreviewRenderer, Scene


class CountingHarmonizer(ClassicalHarmonizer):
    calls = 0

    def predict_mapping(self, composite, mask):  # noqa: ANN001, ANN201
        self.calls += 1
        return super().predict_mapping(composite, mask)


def _scene() -> Scene:
    rng = np.random.default_rng(0)
    background = rng.integers(60, 200, (60, 90, 3)).astype(np.uint8)
    layer = np.clip(rng.integers(60, 200, (20, 30, 3)) * np.array([1.5, 0.7, 0.6]), 0, 255).astype(np.uint8)
    mask = np.ones((20, 30), np.float32)
    return Scene(background, layer, mask, layer, LayerTransform(x=45.0, y=30.0), strength=1.0)


def test_a_strength_change_reuses_the_prediction_and_matches_a_fresh_render() -> None:
    harmonizer, renderer = CountingHarmonizer(), PreviewRenderer()
    scene = _scene()
    renderer.render(harmonizer, scene)
    half = renderer.render(harmonizer, replace(scene, strength=0.5, request_id=1))
    assert harmonizer.calls == 1
    assert np.array_equal(half.harmonized, harmonize_array(harmonizer, half.composite, half.mask, strength=0.5))
    assert not np.array_equal(half.harmonized, half.composite)


class GatedHarmonizer(ClassicalHarmonizer):
    """The classical transfer, of which the model chooses to apply 40 %."""

    def predict_mapping(self, composite, mask):  # noqa: ANN001, ANN201
        return GatedMapping(super().predict_mapping(composite, mask), torch.tensor([0.4]))


def test_the_preview_says_which_share_of_its_correction_the_model_chose() -> None:
    scene = _scene()
    gated = PreviewRenderer().render(GatedHarmonizer(), scene)
    assert gated.share == pytest.approx(0.4)
    whole = PreviewRenderer().render(ClassicalHarmonizer(), scene)
    assert whole.share == 1.0
    assert np.array_equal(gated.harmonized, harmonize_array(ClassicalHarmonizer(), gated.composite, gated.mask, strength=0.4))
    empty = PreviewRenderer().render(GatedHarmonizer(), replace(scene, layer_mask=np.zeros_like(scene.layer_mask)))
    assert empty.share == 1.0  # nothing to harmonize, nothing held back


def test_a_moved_layer_or_a_new_mask_is_predicted_again() -> None:
    harmonizer, renderer = CountingHarmonizer(), PreviewRenderer()
    scene = _scene()
    renderer.render(harmonizer, scene)
    renderer.render(harmonizer, replace(scene, transform=scene.transform.moved(5.0, 0.0)))
    renderer.render(harmonizer, replace(scene, layer_mask=scene.layer_mask.copy()))
    assert harmonizer.calls == 3
    other = CountingHarmonizer()
    renderer.render(other, scene)  # another model: never the old answer
    assert other.calls == 1


def _change_by_the_formula(after: np.ndarray, before: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """``(after - before) / alpha`` inside the mask, its blur over the blurred mask outside, plainly."""
    alpha = alpha[..., None]
    inside = (alpha >= _MIN_ALPHA).astype(np.float32)
    change = (after.astype(np.float32) - before.astype(np.float32)) / 255.0 / np.maximum(alpha, _MIN_ALPHA) * inside
    spread = cv2.GaussianBlur(change, (0, 0), sigma)
    weight = cv2.GaussianBlur(inside[..., 0], (0, 0), sigma)[..., None]
    return np.where(inside > 0, change, spread / np.maximum(weight, 1e-4))


def _display_to_preview(scene: Scene, preview_shape: tuple[int, ...]) -> np.ndarray:
    """OpenCV matrix from display-pixel centres to preview-pixel centres (for WARP_INVERSE_MAP)."""
    height, width = preview_shape[:2]
    matrix = layer_matrix(scene.transform, scene.layer_size, (width / scene.full_size[0], height / scene.full_size[1]))
    offset = matrix[:, 2] + matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return np.hstack([matrix[:, :2], offset[:, None]])


def _texture_worked_in_the_preview(scene: Scene, composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The layer texture computed plainly over the whole preview, then warped into the display grid."""
    display = scene.layer_display
    change = _change_by_the_formula(harmonized, composite, mask, _SPREAD_SIGMA)
    back = cv2.warpAffine(
        change, _display_to_preview(scene, mask.shape), (display.shape[1], display.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    return np.clip(np.rint(display + back * 255.0), 0, 255).astype(np.uint8)


def _texture_worked_in_the_display(scene: Scene, composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The layer texture computed plainly in the display grid, from the preview sampled there."""
    display = scene.layer_display
    matrix = _display_to_preview(scene, mask.shape)
    zoom = np.sqrt(abs(np.linalg.det(matrix[:, :2])))

    def sample(picture: np.ndarray, border: int) -> np.ndarray:
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        return cv2.warpAffine(picture, matrix, (display.shape[1], display.shape[0]), flags=flags, borderMode=border)

    after, before = sample(harmonized, cv2.BORDER_REPLICATE), sample(composite, cv2.BORDER_REPLICATE)
    change = _change_by_the_formula(after, before, sample(mask, cv2.BORDER_CONSTANT), _SPREAD_SIGMA / zoom)
    return np.clip(np.rint(display + change * 255.0), 0, 255).astype(np.uint8)


def _edged_scene(layer_side: int, transform: LayerTransform) -> Scene:
    """A layer with a masked-out strip (an edge to extrapolate across) and a half-weight corner."""
    rng = np.random.default_rng(1)
    background = rng.integers(60, 200, (120, 180, 3)).astype(np.uint8)
    shape = (layer_side, layer_side * 3 // 2)
    layer = np.clip(rng.integers(60, 200, (*shape, 3)) * np.array([1.5, 0.7, 0.6]), 0, 255).astype(np.uint8)
    mask = np.ones(shape, np.float32)
    mask[:, : shape[1] // 5] = 0.0
    mask[shape[0] * 3 // 5 :, shape[1] * 2 // 3 :] = 0.4
    return Scene(background, layer, mask, layer, transform, strength=1.0)


def test_a_layer_shown_smaller_than_its_pixels_gets_the_formula_worked_in_the_preview() -> None:
    scene = _edged_scene(60, LayerTransform(x=80.0, y=56.0, scale=0.4, angle=20.0))
    result = PreviewRenderer().render(ClassicalHarmonizer(), scene)
    expected = _texture_worked_in_the_preview(scene, result.composite, result.harmonized, result.mask)
    assert not np.array_equal(result.texture, scene.layer_display)
    assert np.abs(result.texture.astype(int) - expected).max() <= 1  # blurs summed in another order


def test_a_magnified_layer_gets_the_formula_worked_in_its_display_pixels() -> None:
    scene = _edged_scene(20, LayerTransform(x=80.0, y=56.0, scale=3.0, angle=20.0))
    result = PreviewRenderer().render(ClassicalHarmonizer(), scene)
    expected = _texture_worked_in_the_display(scene, result.composite, result.harmonized, result.mask)
    changed = np.abs(result.texture.astype(int) - scene.layer_display).max(axis=2) > 2
    assert changed[:, : 30 // 5].any()  # the change reaches a little across the masked-out strip
    assert np.abs(result.texture.astype(int) - expected).max() <= 1
