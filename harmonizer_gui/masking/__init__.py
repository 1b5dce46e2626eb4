"""Masks: whole-mask edits and GrabCut as undoable commands; ``tools`` works on arrays (no Qt)."""
