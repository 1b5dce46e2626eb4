"""The app's icons, drawn with QPainter at start-up: simple shapes, no image files to ship."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

_SIZE = 64
_INK = QColor(225, 225, 230)
_ACCENT = QColor(64, 156, 255)


def _pen(colour: QColor = _INK, width: float = 5.0) -> QPen:
    pen = QPen(colour, width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _move(p: QPainter) -> None:
    p.setPen(_pen())
    p.drawLine(QPointF(32, 8), QPointF(32, 56))
    p.drawLine(QPointF(8, 32), QPointF(56, 32))
    p.setBrush(_INK)
    for tip, a, b in (
        ((32, 4), (24, 14), (40, 14)),
        ((32, 60), (24, 50), (40, 50)),
        ((4, 32), (14, 24), (14, 40)),
        ((60, 32), (50, 24), (50, 40)),
    ):
        p.drawPolygon(QPolygonF([QPointF(*tip), QPointF(*a), QPointF(*b)]))


def _brush(p: QPainter) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_INK)
    p.drawEllipse(QPointF(32, 32), 20, 20)


def _eraser(p: QPainter) -> None:
    p.setPen(_pen(width=5))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(QPointF(32, 32), 20, 20)
    p.drawLine(QPointF(18, 46), QPointF(46, 18))


def _mark(colour: QColor, plus: bool) -> Callable[[QPainter], None]:
    def draw(p: QPainter) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        p.drawEllipse(QPointF(32, 32), 24, 24)
        p.setPen(_pen(QColor(20, 20, 20), 7))
        p.drawLine(QPointF(20, 32), QPointF(44, 32))
        if plus:
            p.drawLine(QPointF(32, 20), QPointF(32, 44))

    return draw


def _compare(p: QPainter) -> None:
    p.setPen(_pen(width=4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(QRectF(8, 12, 48, 40), 4, 4)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(_INK)
    p.drawRect(QRectF(32, 12, 24, 40))


def _split(p: QPainter) -> None:
    p.setPen(_pen(width=4))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(QRectF(8, 12, 48, 40), 4, 4)
    p.setPen(_pen(_ACCENT, 5))
    p.drawLine(QPointF(32, 4), QPointF(32, 60))


def _fit(p: QPainter) -> None:
    p.setPen(_pen(width=5))
    for x, y, dx, dy in ((8, 8, 1, 1), (56, 8, -1, 1), (8, 56, 1, -1), (56, 56, -1, -1)):
        p.drawLine(QPointF(x, y), QPointF(x + 14 * dx, y))
        p.drawLine(QPointF(x, y), QPointF(x, y + 14 * dy))


def _overlay(p: QPainter) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(255, 60, 80, 200))
    p.drawRoundedRect(QRectF(6, 10, 52, 44), 6, 6)
    p.setBrush(_INK)
    p.drawEllipse(QPointF(32, 32), 14, 16)


def _grabcut(p: QPainter) -> None:
    p.setPen(_pen(width=6))
    p.drawLine(QPointF(12, 54), QPointF(40, 26))
    p.setPen(_pen(_ACCENT, 4))
    for a, b in (((46, 8), (46, 18)), ((46, 30), (46, 40)), ((36, 20), (28, 20)), ((56, 20), (60, 20)), ((52, 12), (56, 8))):
        p.drawLine(QPointF(*a), QPointF(*b))


def _export(p: QPainter) -> None:
    p.setPen(_pen(width=5))
    p.setBrush(Qt.BrushStyle.NoBrush)
    path = QPainterPath(QPointF(10, 36))
    path.lineTo(10, 54)
    path.lineTo(54, 54)
    path.lineTo(54, 36)
    p.drawPath(path)
    p.drawLine(QPointF(32, 8), QPointF(32, 40))
    p.drawLine(QPointF(20, 28), QPointF(32, 40))
    p.drawLine(QPointF(44, 28), QPointF(32, 40))


_DRAWINGS: dict[str, Callable[[QPainter], None]] = {
    "move": _move,
    "brush": _brush,
    "eraser": _eraser,
    "mark_foreground": _mark(QColor(40, 230, 90), True),
    "mark_background": _mark(QColor(255, 60, 230), False),
    "compare": _compare,
    "split": _split,
    "fit": _fit,
    "overlay": _overlay,
    "grabcut": _grabcut,
    "export": _export,
}
_CACHE: dict[str, QIcon] = {}


def icon(name: str) -> QIcon:
    """The icon called ``name`` (see ``_DRAWINGS``); an empty icon for unknown names."""
    if name not in _CACHE:
        draw = _DRAWINGS.get(name)
        if draw is None:
            return QIcon()
        pixmap = QPixmap(_SIZE, _SIZE)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QBrush(_INK))
        draw(painter)
        painter.end()
        _CACHE[name] = QIcon(pixmap)
    return _CACHE[name]
