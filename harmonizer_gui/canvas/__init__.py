"""The canvas: the graphics view, its items, the layer handles and brush strokes in progress.
``handles`` is plain geometry (no Qt).
"""
