"""What the user is doing, as opposed to what the picture is: tool, brush, overlay, compare mode.

Like the document, a plain model with signals; the toolbar, menus and canvas observe it.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QObject, Signal

MIN_BRUSH, MAX_BRUSH = 1, 2000
DEFAULT_BRUSH = 40  # diameter in background pixels, as the brush looks on the picture
DEFAULT_HARDNESS = 0.7


class Tool(Enum):
    MOVE = "move"
    BRUSH = "brush"
    ERASER = "eraser"
    MARK_FOREGROUND = "mark_foreground"
    MARK_BACKGROUND = "mark_background"

    @property
    def paints(self) -> bool:
        return self is not Tool.MOVE

    @property
    def marks(self) -> bool:
        return self in (Tool.MARK_FOREGROUND, Tool.MARK_BACKGROUND)


class ViewMode(Enum):
    HARMONIZED = "harmonized"
    ORIGINAL = "original"  # the plain composite
    SPLIT = "split"  # original left of the divider, harmonized right of it


class EditorState(QObject):
    """Signals carry the new value; setters ignore values that change nothing."""

    toolChanged = Signal(object)
    brushSizeChanged = Signal(int)
    hardnessChanged = Signal(float)
    featherChanged = Signal(int)
    overlayChanged = Signal(bool)
    viewModeChanged = Signal(object)
    splitChanged = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tool = Tool.MOVE
        self.brush_size = DEFAULT_BRUSH
        self.hardness = DEFAULT_HARDNESS
        self.feather_radius = 4
        self.show_overlay = False
        self.view_mode = ViewMode.HARMONIZED
        self.split = 0.5  # divider position as a fraction of the background's width

    def set_tool(self, tool: Tool) -> None:
        if tool is not self.tool:
            self.tool = tool
            self.toolChanged.emit(tool)

    def set_brush_size(self, size: int) -> None:
        size = int(min(max(size, MIN_BRUSH), MAX_BRUSH))
        if size != self.brush_size:
            self.brush_size = size
            self.brushSizeChanged.emit(size)

    def grow_brush(self, factor: float) -> None:
        """Multiply the brush size, always by at least one pixel."""
        target = self.brush_size * factor
        step = max(1, round(abs(target - self.brush_size)))
        self.set_brush_size(self.brush_size + (step if factor > 1 else -step))

    def set_hardness(self, hardness: float) -> None:
        hardness = float(min(max(hardness, 0.0), 1.0))
        if hardness != self.hardness:
            self.hardness = hardness
            self.hardnessChanged.emit(hardness)

    def set_feather_radius(self, radius: int) -> None:
        radius = max(0, int(radius))
        if radius != self.feather_radius:
            self.feather_radius = radius
            self.featherChanged.emit(radius)

    def set_show_overlay(self, show: bool) -> None:
        if show != self.show_overlay:
            self.show_overlay = show
            self.overlayChanged.emit(show)

    def set_view_mode(self, mode: ViewMode) -> None:
        if mode is not self.view_mode:
            self.view_mode = mode
            self.viewModeChanged.emit(mode)

    def set_split(self, fraction: float) -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        if fraction != self.split:
            self.split = fraction
            self.splitChanged.emit(fraction)
