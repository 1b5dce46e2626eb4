"""Tools > Train personal model: the dialog, its form and live monitor, and the trainer as a child
process. Reaches the trainer only through its command line and progress events.
"""
