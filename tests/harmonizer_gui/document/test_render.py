"""Rendering previews: a strength change reuses the last composite and prediction; the layer texture."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from engine.harmonizer import ClassicalHarmonizer
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


def _texture_by_the_formula(scene: Scene, composite: np.ndarray, harmonized: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The layer texture computed plainly over the whole preview, with three-channel arrays."""
    display = scene.layer_display
    alpha = mask[..., None]
    inside = (alpha >= _MIN_ALPHA).astype(np.float32)
    change = (harmonized.astype(np.float32) - composite.astype(np.float32)) / 255.0 / np.maximum(alpha, _MIN_ALPHA) * inside
    spread = cv2.GaussianBlur(change, (0, 0), _SPREAD_SIGMA)
    weight = cv2.GaussianBlur(inside[..., 0], (0, 0), _SPREAD_SIGMA)[..., None]
    change = np.where(inside > 0, change, spread / np.maximum(weight, 1e-4))
    height, width = mask.shape
    matrix = layer_matrix(scene.transform, scene.layer_size, (width / scene.full_size[0], height / scene.full_size[1]))
    offset = matrix[:, 2] + matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    back = cv2.warpAffine(
        change, np.hstack([matrix[:, :2], offset[:, None]]), (display.shape[1], display.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    return np.clip(np.rint(display + back * 255.0), 0, 255).astype(np.uint8)


def test_the_layer_texture_is_the_plain_formula_worked_in_the_layers_box() -> None:
    scene = replace(_scene(), transform=LayerTransform(x=40.0, y=28.0, scale=1.3, angle=20.0))
    scene.layer_mask[:, :6] = 0.0  # an edge to extrapolate across
    scene.layer_mask[12:, 20:] = 0.4
    result = PreviewRenderer().render(ClassicalHarmonizer(), scene)
    expected = _texture_by_the_formula(scene, result.composite, result.harmonized, result.mask)
    assert not np.array_equal(result.texture, scene.layer_display)
    assert np.abs(result.texture.astype(int) - expected).max() <= 1  # blurs summed in another order
