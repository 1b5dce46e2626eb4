"""Inference side of the harmonizer: the SCS-Co generator, colour mappings, checkpoints and I/O.

The engine never imports Qt; the GUI and the trainer build on it.
"""
