"""mask_tools.py: brush, feather, invert and GrabCut at the foreground's resolution."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harmonizer_gui.masking.tools import brush_coverage, feather, grabcut, invert, mark_patch, paint_patch, segment_box


def test_hard_brush_covers_a_disc_of_its_radius() -> None:
    box = segment_box((50.0, 50.0), (50.0, 50.0), 11, (100, 100))
    coverage = brush_coverage(box, (50.0, 50.0), (50.0, 50.0), radius=10, hardness=1.0)
    area = float(coverage.sum())
    assert area == pytest.approx(np.pi * 10**2, rel=0.05)
    assert coverage.max() == 1.0


def test_soft_brush_fades_towards_its_edge() -> None:
    box = segment_box((50.0, 50.0), (50.0, 50.0), 21, (100, 100))
    coverage = brush_coverage(box, (50.0, 50.0), (50.0, 50.0), radius=20, hardness=0.0)
    row = coverage[50 - box.top, 50 - box.left :]
    assert row[0] == pytest.approx(1.0, abs=0.05)
    assert np.all(np.diff(row) <= 1e-6) and 0.2 < row[10] < 0.8


def test_a_fast_stroke_leaves_no_gaps() -> None:
    box = segment_box((10.0, 50.0), (90.0, 50.0), 6, (100, 100))
    coverage = brush_coverage(box, (10.0, 50.0), (90.0, 50.0), radius=5, hardness=1.0)
    assert (coverage[50 - box.top, 10 - box.left : 90 - box.left] == 1.0).all()


def test_paint_raises_erase_lowers_and_dabs_do_not_build_up() -> None:
    patch = np.full((5, 5), 0.5, np.float32)
    coverage = np.full((5, 5), 0.3, np.float32)
    assert np.allclose(paint_patch(patch, coverage, erase=False), 0.5)  # weaker than what is there
    assert np.allclose(paint_patch(patch, np.ones((5, 5), np.float32), erase=False), 1.0)
    assert np.allclose(paint_patch(patch, np.ones((5, 5), np.float32), erase=True), 0.0)
    assert np.allclose(mark_patch(np.zeros((5, 5), np.uint8), coverage + 0.4, 2), 2)


def test_feather_softens_only_near_the_edge_and_invert_flips() -> None:
    mask = np.zeros((60, 60), np.float32)
    mask[10:50, 10:50] = 1.0
    soft = feather(mask, 6)
    assert soft[30, 30] == pytest.approx(1.0, abs=1e-3) and soft[2, 2] == pytest.approx(0.0, abs=1e-3)
    assert 0.3 < soft[30, 10] < 0.7
    assert np.array_equal(invert(invert(mask)), mask)
    assert np.array_equal(feather(mask, 0), mask)


def _object_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(60, 12, (120, 160, 3)), 0, 255).astype(np.uint8)
    image[..., 1] += 60  # greenish surroundings
    cv2.circle(image, (80, 60), 30, (230, 60, 40), -1)  # a red disc in the middle
    return image


def test_grabcut_finds_the_object_inside_the_layer_rectangle() -> None:
    image = _object_image()
    mask = grabcut(image)
    truth = np.zeros((120, 160), np.uint8)
    cv2.circle(truth, (80, 60), 30, 1, -1)
    iou = ((mask > 0.5) & (truth > 0)).sum() / ((mask > 0.5) | (truth > 0)).sum()
    assert mask.shape == (120, 160) and mask.dtype == np.float32
    assert iou > 0.9


def test_grabcut_marks_take_away_and_add_back() -> None:
    image = _object_image()
    cv2.rectangle(image, (125, 50), (145, 70), (40, 60, 230), -1)  # a blue box beside the disc
    assert grabcut(image)[60, 135] == 1.0  # different from the border: taken for the object
    hints = np.zeros((120, 160), np.uint8)
    hints[58:62, 128:142] = 2  # a background stroke across the box
    mask = grabcut(image, hints)
    assert mask[60, 135] == 0.0 and mask[52, 130] == 0.0 and mask[60, 80] == 1.0
    hints[55:65, 20:30] = 1  # a foreground stroke on the green surroundings
    assert grabcut(image, hints)[60, 25] == 1.0


def test_grabcut_explains_impossible_input() -> None:
    with pytest.raises(ValueError, match="8x8"):
        grabcut(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="both"):
        grabcut(_object_image(), np.full((120, 160), 1, np.uint8))
