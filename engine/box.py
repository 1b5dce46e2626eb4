"""A pixel rectangle: the pipeline's crops and foreground boxes, the app's patches and regions."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """A pixel rectangle, ``top``/``left`` inclusive, ``bottom``/``right`` exclusive."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left
