"""Toolbars: tools, brush size and hardness, feather radius, strength, compare.

The controls observe the editor state and the document and write back through them, blocking
their own signals while they follow a change made elsewhere (menu, keyboard, settings).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QSlider, QSpinBox, QToolBar

from engine.pipeline import MAX_STRENGTH, applied_share
from harmonizer_gui.window.actions import Actions
from harmonizer_gui.document.document import Document
from harmonizer_gui.services.editor_state import MAX_BRUSH, MIN_BRUSH, EditorState


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setContentsMargins(10, 0, 4, 0)
    return label


def _slider(maximum: int, width: int, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, maximum)
    slider.setFixedWidth(width)
    slider.setToolTip(tip)
    slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas: arrows move the layer
    return slider


class ToolControls:
    """Brush size, hardness and feather radius, following the editor state."""

    def __init__(self, state: EditorState) -> None:
        self._state = state
        self.size = QSpinBox()
        self.size.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size.setSuffix(" px")
        self.size.setToolTip("Brush diameter in background pixels ([ and ])")
        self.size.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.hardness = _slider(100, 90, "Brush hardness: soft edge (left) to hard edge (right)")
        self.feather = QSpinBox()
        self.feather.setRange(0, 500)
        self.feather.setSuffix(" px")
        self.feather.setToolTip("Feather radius used by Mask > Feather Edges")
        self.feather.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.size.valueChanged.connect(state.set_brush_size)
        self.hardness.valueChanged.connect(lambda value: state.set_hardness(value / 100.0))
        self.feather.valueChanged.connect(state.set_feather_radius)
        state.brushSizeChanged.connect(self._sync)
        state.hardnessChanged.connect(self._sync)
        state.featherChanged.connect(self._sync)
        self._sync()

    def _sync(self, *_args: object) -> None:
        for widget, value in (
            (self.size, self._state.brush_size),
            (self.hardness, round(self._state.hardness * 100)),
            (self.feather, self._state.feather_radius),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)


class StrengthControl:
    """The strength slider (0 % to ``MAX_STRENGTH``) and its value, following the document.

    Once a preview says what share of its correction the model chose, the value says where more
    strength stops changing anything: "(all)" once the whole correction is applied, and its
    tooltip how much of it is.
    """

    def __init__(self, document: Document) -> None:
        self._document = document
        self._share: float | None = None  # the model's own share for the picture, from the last preview
        tip = (
            "Strength: blend between the composite (0 %) and the model's harmonized foreground (100 %); "
            f"up to {_percent(MAX_STRENGTH)}, more of the correction from a model that holds some back"
        )
        self.slider = _slider(round(MAX_STRENGTH * 100), 160, tip)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(100)  # a mark at the model's own correction
        self.value = QLabel()
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("200 % (all)") + 4)  # no jumps
        self.slider.valueChanged.connect(lambda value: document.set_strength(value / 100.0))
        document.strengthChanged.connect(self._sync)
        self._sync()

    def set_model_share(self, share: float) -> None:
        """The share of its whole correction the model chose for the picture shown."""
        self._share = share
        self._sync()

    def _sync(self, *_args: object) -> None:
        strength = self._document.strength
        percent = round(strength * 100)
        self.slider.blockSignals(True)
        self.slider.setValue(percent)
        self.slider.blockSignals(False)
        if self._share is None or self._share <= 0.0:
            self.value.setText(f"{percent} %")
            self.value.setToolTip("")
            return
        applied = applied_share(strength, self._share)
        self.value.setText(f"{percent} % (all)" if strength > 1.0 and applied >= 1.0 else f"{percent} %")
        self.value.setToolTip(_share_tip(percent, self._share, applied))


def _share_tip(percent: int, share: float, applied: float) -> str:
    if share >= 1.0:
        return "This model applies its whole correction at 100 %; more strength changes nothing."
    full = math.ceil(100 / share - 1e-9)  # the smallest strength, in percent, that applies all of it
    reach = (
        f"all of it from {full} %"
        if full <= round(MAX_STRENGTH * 100)
        else f"{_percent(applied_share(MAX_STRENGTH, share))} of it at most, at {_percent(MAX_STRENGTH)}"
    )
    return f"The model chose {_percent(share)} of its correction for this picture; at {percent} % {_percent(applied)} of it is applied, {reach}."


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100)} %"


def build_toolbars(
    window: QMainWindow, actions: Actions, state: EditorState, document: Document
) -> tuple[ToolControls, StrengthControl]:
    tools = QToolBar("Tools", window)
    tools.setObjectName("tools")
    tools.setIconSize(QSize(20, 20))
    tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    tools.addActions(actions.tools.actions())
    tools.addSeparator()
    controls = ToolControls(state)
    for text, widget in (("Size", controls.size), ("Hardness", controls.hardness)):
        tools.addWidget(_label(text))
        tools.addWidget(widget)
    tools.addSeparator()
    tools.addAction(actions.overlay)
    tools.addAction(actions.grabcut)
    tools.addWidget(_label("Feather"))
    tools.addWidget(controls.feather)
    tools.addAction(actions.feather)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)

    view = QToolBar("Harmonize", window)
    view.setObjectName("harmonize")
    view.setIconSize(QSize(20, 20))
    view.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    strength = StrengthControl(document)
    view.addWidget(_label("Strength"))
    view.addWidget(strength.slider)
    view.addWidget(strength.value)
    view.addSeparator()
    view.addActions([actions.compare, actions.split, actions.fit])
    view.addSeparator()
    view.addAction(actions.export_harmonized)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, view)
    return controls, strength
