"""The canvas: the graphics view, its items, the layer handles, brush strokes in progress and the editing
state (tool, brush). ``handles`` is plain geometry (no Qt).
"""
