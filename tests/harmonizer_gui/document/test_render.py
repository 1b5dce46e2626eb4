"""Rendering previews: a strength change reuses the last composite and prediction; the texture's blur."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from engine.harmonizer import ClassicalHarmonizer
from engine.pipeline import harmonize_array
from harmonizer_gui.document.compose import LayerTransform
from harmonizer_gui.document.render import _SPREAD_SIGMA, PreviewRenderer, Scene, _blurred


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


@pytest.mark.parametrize("height", [1, 2, 5, 17, 40, 201])
def test_stacked_blur_is_the_blur_of_each_plane_alone(height: int) -> None:
    rng = np.random.default_rng(height)
    planes = [rng.normal(0, 0.1, (height, 57)).astype(np.float32) for _ in range(3)]
    planes.append((rng.random((height, 57)) > 0.5).astype(np.float32))
    for plane, blurred in zip(planes, _blurred(planes)):
        assert np.array_equal(blurred, cv2.GaussianBlur(plane, (0, 0), _SPREAD_SIGMA))
