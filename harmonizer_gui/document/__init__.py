"""The picture being edited: background, foreground layer, placement, undoable commands, rendering.

No widgets. ``compose`` and ``render`` are pure numpy and OpenCV (no Qt at all), so the export and the
benchmarks use them without an application.
"""
