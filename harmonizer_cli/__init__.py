"""The program: its command line, whose sub-commands come from the engine and the trainer, and
which opens the desktop app when no command is given. ``python main.py``, ``python -m
harmonizer_cli`` and the installed ``harmonizer`` command all run :func:`harmonizer_cli.program.main`.
"""
