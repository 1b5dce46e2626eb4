"""The program's command line: no command opens the window; sub-commands work without one.

    harmonizer                                       # the desktop app (or: python main.py)
    harmonizer harmonize COMPOSITE MASK -o OUT.png
    harmonizer evaluate ROOT [--list FILE] [--json OUT]
    harmonizer train --data FOLDER --out RUN [--steps N | --epochs N]
    harmonizer prepare FOLDER [FOLDER ...] --out CACHE --size 128
    harmonizer devset OUT

Every command ends through ``run_command``: its ``run`` returns the exit code, and the errors it
declares (``failures``, :mod:`engine.exit_codes`) become a message on standard error and their code.
"""
from __future__ import annotations

import argparse
import logging
import sys

# Only what a command needs is imported: the app, ``harmonize`` and ``evaluate`` never load the
# trainer (nor do the commands load Qt, which only the app needs); see ``_requested_command``.
WITHOUT_TRAINER = ("gui", "harmonize", "evaluate")


def _requested_command(argv: list[str]) -> str | None:
    """The sub-command named on the command line (the first argument that is not an option);
    ``gui`` when there is none, None when help is asked for (it lists every command)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command is None and not {"-h", "--help"} & set(argv):
        return "gui"
    return command


def _open_app(args: argparse.Namespace) -> int:
    from harmonizer_gui.window.app import run_app

    return run_app()


def build_parser(command: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """The program's parser; for a ``command`` in ``WITHOUT_TRAINER``, without the trainer's commands."""
    from engine import cli as engine_cli

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Harmonize composites with SCS-Co. Without a command, opens the desktop app.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    parser.set_defaults(run=_open_app, failures=())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("gui", help="open the desktop app (the default)")
    engine_cli.add_commands(commands)
    if command not in WITHOUT_TRAINER:
        from trainer import cli as trainer_cli
        from trainer import devset, prepare

        trainer_cli.add_commands(commands)
        devset.add_commands(commands)
        prepare.add_commands(commands)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command: the exit code its ``run`` returns or, for an error it declares, that
    error's code, its message printed on standard error (and, for a command reporting progress as
    JSON lines, as an ``error`` event on standard output)."""
    from engine.exit_codes import find_failure
    from engine.training_protocol import JSON_PROGRESS, ErrorEvent, event_line

    try:
        return args.run(args)
    except Exception as error:
        failure = find_failure(error, args.failures)
        if failure is None:
            raise
        message = failure.message(error, args)
        if getattr(args, "progress", None) == JSON_PROGRESS:
            print(event_line(ErrorEvent(message)), flush=True)
        print(f"error: {message}", file=sys.stderr)
        return failure.code


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); returns its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_requested_command(argv), prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    return run_command(args)
