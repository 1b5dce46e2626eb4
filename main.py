"""Image harmonizer: ``python main.py`` opens the window; sub-commands work without one.

    python main.py                                   # the desktop app
    python main.py harmonize COMPOSITE MASK -o OUT.png
    python main.py evaluate ROOT [--list FILE] [--json OUT]
    python main.py train --data FOLDER --out RUN [--steps N | --epochs N]
    python main.py prepare FOLDER [FOLDER ...] --out CACHE --size 128
"""
from __future__ import annotations

import argparse
import logging
import sys

# Only what a command needs is imported: ``harmonize`` and ``evaluate`` never load the trainer
# (nor Qt, which only the app needs); see ``_requested_command``.
ENGINE_COMMANDS = ("harmonize", "evaluate")


def _requested_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (the first argument that is not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The program's parser; for an engine ``command``, without the trainer's commands."""
    from engine import cli as engine_cli

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Harmonize composites with SCS-Co. Without a command, opens the desktop app.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("gui", help="open the desktop app (the default)")
    engine_cli.add_commands(commands)
    if command not in ENGINE_COMMANDS:
        from trainer import cli as trainer_cli
        from trainer import devset, prepare

        trainer_cli.add_commands(commands)
        devset.add_commands(commands)
        prepare.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_requested_command(argv)).parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.command in (None, "gui"):
        from harmonizer_gui.window.app import run_app

        return run_app()
    if args.command in ENGINE_COMMANDS:
        from engine import cli as engine_cli

        return engine_cli.run_command(args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
