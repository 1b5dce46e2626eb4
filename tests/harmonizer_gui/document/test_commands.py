"""commands.py: every edit undoes exactly; a gesture is one undo step; patches stay small."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QUndoStack

from engine.box import Box
from engine.imageio import LoadedImage
from harmonizer_gui.document.commands import (
    Gesture,
    PatchCommand,
    SetBackgroundCommand,
    SetLayerCommand,
    TransformCommand,
    replace_mask_command,
)
from harmonizer_gui.document.compose import LayerTransform
from harmonizer_gui.document.document import Document, Layer


def _image(width: int, height: int, alpha: bool = False) -> LoadedImage:
    rgb = np.full((height, width, 3), 100, np.uint8)
    return LoadedImage(rgb=rgb, alpha=np.full((height, width), 255, np.uint8) if alpha else None, source=f"{width}x{height}")


@pytest.fixture
def document(qapp) -> Document:  # noqa: ANN001
    doc = Document()
    doc.set_background(_image(200, 100))
    doc.set_layer(Layer.from_image(_image(50, 40), LayerTransform(100, 50)))
    return doc


def test_a_gestures_patches_merge_into_one_undo_step_that_restores_exactly(document: Document) -> None:
    stack = QUndoStack()
    original = document.layer.mask.copy()
    gesture = Gesture()
    for left in (5, 12, 30):
        box = Box(10, left, 20, left + 8)
        stack.push(PatchCommand(document, box, np.zeros((10, 8), np.float32), gesture=gesture))
    assert stack.count() == 1
    painted = document.layer.mask.copy()
    assert painted[10:20, 5:13].max() == 0 and painted[10:20, 30:38].max() == 0 and painted[10:20, 20:30].min() == 1
    stack.undo()
    assert np.array_equal(document.layer.mask, original)
    stack.redo()
    assert np.array_equal(document.layer.mask, painted)


def test_patches_keep_only_their_box(document: Document) -> None:
    command = PatchCommand(document, Box(0, 0, 3, 4), np.zeros((3, 4), np.float32))
    assert command.stored_pixels == 12
    new_mask = document.layer.mask.copy()
    new_mask[5:7, 9:12] = 0.25
    whole = replace_mask_command(document, new_mask, "Edit")
    assert whole is not None and whole.box == Box(5, 9, 7, 12) and whole.stored_pixels == 6
    assert replace_mask_command(document, document.layer.mask.copy(), "Nothing") is None


def test_separate_gestures_and_keyboard_moves_stay_separate(document: Document) -> None:
    stack = QUndoStack()
    start = document.layer.transform
    drag = Gesture()
    stack.push(TransformCommand(document, start.moved(5, 0), gesture=drag))
    stack.push(TransformCommand(document, start.moved(9, 2), gesture=drag))
    stack.push(TransformCommand(document, start.moved(9, 3)))
    stack.push(TransformCommand(document, start.moved(9, 4)))
    assert stack.count() == 3
    stack.undo()
    stack.undo()
    assert document.layer.transform == start.moved(9, 2)
    stack.undo()
    assert document.layer.transform == start


def test_replacing_the_background_keeps_the_layer_and_its_mask(document: Document) -> None:
    stack = QUndoStack()
    layer = document.layer
    layer.mask[:10] = 0.0
    before = layer.transform
    stack.push(SetBackgroundCommand(document, _image(300, 150)))
    assert document.layer is layer and layer.transform == before and layer.mask[:10].max() == 0
    stack.push(SetBackgroundCommand(document, _image(60, 30)))  # centre (100, 50) falls outside
    assert (document.layer.transform.x, document.layer.transform.y) == (30, 15)
    stack.undo()
    stack.undo()
    assert document.background.width == 200 and document.layer.transform == before


def test_a_layer_added_before_the_background_is_placed_on_it(qapp) -> None:  # noqa: ANN001
    document = Document()
    document.set_layer(Layer.from_image(_image(50, 40), document.placement_for(_image(50, 40))))
    SetBackgroundCommand(document, _image(1000, 800)).redo()
    assert (document.layer.transform.x, document.layer.transform.y) == (500, 400)


def test_replacing_the_foreground_keeps_its_place_and_size(document: Document) -> None:
    stack = QUndoStack()
    stack.push(TransformCommand(document, document.layer.transform.moved(10, 5).scaled(2.0)))
    old = document.layer
    bigger = _image(100, 80, alpha=True)
    stack.push(SetLayerCommand(document, Layer.from_image(bigger, document.placement_for(bigger))))
    new = document.layer.transform
    assert (new.x, new.y) == (old.transform.x, old.transform.y)
    assert new.scale * 100 == pytest.approx(old.transform.scale * 50)
    stack.undo()
    assert document.layer is old
