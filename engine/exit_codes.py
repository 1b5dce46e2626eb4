"""The program's exit codes, and the errors each command expects: one home for every command.

A script (and the GUI, which reads the trainer's) can rely on: 0 success; 1 the work failed part
of the way (``harmonize``: some items of a batch; ``train``: the run, e.g. on a full disk, the
message saying which checkpoint survives; ``prepare``: the cache); 2 bad usage or unusable input
(data, settings, an unreadable image, a refused overwrite); 3 the model or the device cannot be
used; 130 stopped early by SIGINT/SIGTERM (128 + SIGINT, as shells report a Ctrl+C).

Every command's ``run`` returns one of these; the errors it expects are declared as
:class:`Failure` rules, which the program (``harmonizer_cli.program``) turns into
``error: MESSAGE`` on standard error and their code. Light on purpose: no torch, no Qt.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EXIT_OK = 0
EXIT_PARTIAL = 1  # harmonize: some items of a batch failed
EXIT_FAILED = 1  # train, prepare: the work failed part of the way
EXIT_INPUT = 2
EXIT_MODEL = 3
EXIT_STOPPED = 130


def _own_words(error: BaseException, args: argparse.Namespace) -> str:
    return str(error)


@dataclass(frozen=True)
class Failure:
    """Errors a command expects, the exit code they end it with, and how the message reads."""

    errors: tuple[type[BaseException], ...]
    code: int
    message: Callable[[BaseException, argparse.Namespace], str] = _own_words


def find_failure(error: BaseException, failures: Sequence[Failure]) -> Failure | None:
    """The first rule that ``error`` falls under; None: not an error the command expects."""
    return next((failure for failure in failures if isinstance(error, failure.errors)), None)
