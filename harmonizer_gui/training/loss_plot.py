"""A small live plot of the training losses over steps, drawn with QPainter (no QtCharts).

Five curves: the total and its four terms (reconstruction, harm, self-style contrast, consistency),
on a linear or logarithmic value axis. Long runs are thinned to about two points per pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.training_protocol import LOSS_TERMS

_LOOKS = {  # each loss term's label and colour (None: the palette's text colour)
    "total": ("total", None),
    "reconstruction": ("reconstruction", QColor(86, 156, 255)),
    "harm": ("harm", QColor(220, 80, 160)),
    "self_style": ("self-style", QColor(255, 160, 64)),
    "consistency": ("consistency", QColor(96, 200, 120)),
    "kind": ("kind", QColor(170, 130, 230)),
}
SERIES = tuple((term, *_LOOKS[term]) for term in LOSS_TERMS)
_MARGINS = (58, 26, 12, 22)  # left, top, right, bottom
ToScreen = Callable[[float, float], QPointF]


def _nice_step(span: float, count: int) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about ``count`` ticks."""
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next((m * power for m in (1, 2, 5, 10) if m * power >= raw), 10 * power)


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.3g}"


class LossPlot(QWidget):
    """``add(step, losses)`` appends a point to each curve; ``clear()`` starts over."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: dict[str, list[tuple[int, float]]] = {key: [] for key, _, _ in SERIES}
        self._log = True
        self.setMinimumSize(280, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(460, 220)

    # -- data ------------------------------------------------------------------------------
    def add(self, step: int, losses: dict[str, float]) -> None:
        for key, _, _ in SERIES:
            value = losses.get(key)
            if value is not None and math.isfinite(value):
                self._points[key].append((step, float(value)))
        self.update()

    def clear(self) -> None:
        for points in self._points.values():
            points.clear()
        self.update()

    @property
    def log_scale(self) -> bool:
        return self._log

    def set_log_scale(self, on: bool) -> None:
        self._log = bool(on)
        self.update()

    # -- geometry --------------------------------------------------------------------------
    def _value(self, v: float) -> float | None:
        if not self._log:
            return v
        return math.log10(v) if v > 0 else None

    def _ranges(self) -> tuple[float, float, float, float] | None:
        steps = [s for points in self._points.values() for s, _ in points]
        values = [y for points in self._points.values() for _, v in points if (y := self._value(v)) is not None]
        if not steps or not values:
            return None
        x0, x1 = min(steps), max(steps)
        y0, y1 = min(values), max(values)
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        if y1 - y0 < 1e-9:
            pad = 0.5 if self._log else max(abs(y0) * 0.1, 1e-3)
            y0, y1 = y0 - pad, y1 + pad
        elif not self._log:
            y0 = min(y0, 0.0) if y0 >= 0 and y0 < 0.25 * y1 else y0
        return x0, x1, y0, y1

    def _y_ticks(self, y0: float, y1: float) -> list[tuple[float, str]]:
        if self._log:
            step = max(1, math.ceil((y1 - y0) / 5))
            decades = range(math.ceil(y0), math.floor(y1) + 1, step)
            return [(float(e), f"{10.0**e:g}" if -4 <= e <= 4 else f"1e{e}") for e in decades]
        step = _nice_step(y1 - y0, 4)
        first = math.ceil(y0 / step) * step
        return [(first + i * step, _label(first + i * step)) for i in range(int((y1 - first) / step + 1e-9) + 1)]

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: ARG002
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        left, top, right, bottom = _MARGINS
        area = QRectF(left, top, max(self.width() - left - right, 10), max(self.height() - top - bottom, 10))
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        painter.setFont(font)
        text_colour = palette.text().color()
        self._draw_legend(painter, text_colour)
        ranges = self._ranges()
        grid = QColor(text_colour)
        grid.setAlpha(40)
        painter.setPen(QPen(grid, 1))
        painter.drawRect(area)
        if ranges is None:
            painter.setPen(palette.placeholderText().color())
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss curves appear with the first steps.")
            return
        x0, x1, y0, y1 = ranges

        def to_screen(step: float, y: float) -> QPointF:
            return QPointF(area.left() + (step - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())

        self._draw_axes(painter, area, ranges, to_screen, grid, text_colour)
        for key, _, colour in SERIES:
            self._draw_series(painter, self._points[key], colour or text_colour, to_screen, area.width(), key == "total")

    def _draw_legend(self, painter: QPainter, text_colour: QColor) -> None:
        x = float(_MARGINS[0])
        metrics = painter.fontMetrics()
        for key, name, colour in SERIES:
            painter.setPen(QPen(colour or text_colour, 2.5 if key == "total" else 1.8))
            painter.drawLine(QPointF(x, 12), QPointF(x + 16, 12))
            painter.setPen(text_colour)
            painter.drawText(QPointF(x + 20, 12 + metrics.ascent() / 2 - 1), name)
            x += 34 + metrics.horizontalAdvance(name)
        scale = "log scale" if self._log else "linear scale"
        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(QPointF(self.width() - _MARGINS[2] - metrics.horizontalAdvance(scale), 12 + metrics.ascent() / 2 - 1),
                         scale)

    def _draw_axes(self, painter: QPainter, area: QRectF, ranges: tuple[float, float, float, float], to_screen: ToScreen,
                   grid: QColor, text_colour: QColor) -> None:
        x0, x1, y0, y1 = ranges
        metrics = painter.fontMetrics()
        for y, text in self._y_ticks(y0, y1):
            point = to_screen(x0, y)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(area.left(), point.y()), QPointF(area.right(), point.y()))
            painter.setPen(text_colour)
            painter.drawText(QRectF(0, point.y() - 8, area.left() - 6, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(QRectF(0, area.bottom() + 2, area.left() - 6, metrics.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "step")
        step = max(1, int(_nice_step(x1 - x0, 5)))
        first = math.ceil(x0 / step) * step
        for x in range(int(first), int(x1) + 1, step):
            point = to_screen(x, y0)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(point.x(), area.top()), QPointF(point.x(), area.bottom()))
            label = f"{x:,}"
            if point.x() - area.left() < metrics.horizontalAdvance(label) / 2 - 3:
                continue  # would run into the "step" caption
            painter.setPen(text_colour)
            painter.drawText(QRectF(point.x() - 40, area.bottom() + 2, 80, metrics.height()),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, label)

    def _draw_series(self, painter: QPainter, points: list[tuple[int, float]], colour: QColor, to_screen: ToScreen,
                     width: float, bold: bool) -> None:
        stride = max(1, math.ceil(len(points) / max(2 * width, 1)))
        shown = points[::stride] if stride > 1 else points
        if stride > 1 and shown[-1] is not points[-1]:
            shown = [*shown, points[-1]]
        screen = [to_screen(s, y) for s, v in shown if (y := self._value(v)) is not None]
        if not screen:
            return
        painter.setPen(QPen(colour, 2.2 if bold else 1.5))
        if len(screen) == 1:
            painter.setBrush(colour)
            painter.drawEllipse(screen[0], 2.5, 2.5)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            return
        path = QPainterPath(screen[0])
        for point in screen[1:]:
            path.lineTo(point)
        painter.drawPath(path)
