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

from engine import cli as engine_cli
from trainer import cli as trainer_cli
from trainer import devset, prepare


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Harmonize composites with SCS-Co. Without a command, opens the desktop app.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("gui", help="open the desktop app (the default)")
    engine_cli.add_commands(commands)
    trainer_cli.add_commands(commands)
    devset.add_commands(commands)
    prepare.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    if args.command in (None, "gui"):
        from harmonizer_gui.app import run_app

        return run_app()
    if args.command in ("train", "devset", "prepare"):
        return args.run(args)
    return engine_cli.run_command(args)


if __name__ == "__main__":
    sys.exit(main())
