"""Short jobs off the UI thread (reading an image, GrabCut), with results back through signals.

``TaskRunner.submit`` runs a function on Qt's thread pool and returns a ticket number; the answer
comes back on the UI thread, to the callbacks given and as ``finished(ticket, result)`` or
``failed(ticket, message)``. Callers that want *latest wins* remember the newest ticket of a kind
and ignore older answers.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries a runnable's answer to the UI thread (a QRunnable cannot have signals)."""

    finished = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    def __init__(
        self, ticket: int, function: Callable[[], Any], relay: _Relay, expected: tuple[type[BaseException], ...]
    ) -> None:
        super().__init__()
        self._ticket, self._function, self._relay, self._expected = ticket, function, relay, expected

    def run(self) -> None:
        try:
            result = self._function()
        except self._expected as err:
            self._relay.failed.emit(self._ticket, str(err))
        except Exception as err:  # unexpected, but a background job must never take the app down
            log.exception("background job failed")
            self._relay.failed.emit(self._ticket, f"unexpected error: {err}")
        else:
            self._relay.finished.emit(self._ticket, result)


class TaskRunner(QObject):
    """Signals: finished(int, object), failed(int, str)."""

    finished = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._tickets = itertools.count(1)
        self._relay = _Relay(self)
        self._callbacks: dict[int, tuple[Callable[[int, Any], None] | None, Callable[[int, str], None] | None]] = {}
        self._relay.finished.connect(self._on_finished)
        self._relay.failed.connect(self._on_failed)

    def submit(
        self,
        function: Callable[[], Any],
        on_done: Callable[[int, Any], None] | None = None,
        on_error: Callable[[int, str], None] | None = None,
        expected: tuple[type[BaseException], ...] = (ValueError, OSError),
    ) -> int:
        """Run ``function()`` on the pool. ``on_done(ticket, result)`` or ``on_error(ticket, message)``
        follow on the UI thread; exceptions of the ``expected`` types give their own message."""
        ticket = next(self._tickets)
        self._callbacks[ticket] = (on_done, on_error)
        self._pool.start(_Job(ticket, function, self._relay, expected))
        return ticket

    def _on_finished(self, ticket: int, result: object) -> None:
        on_done, _ = self._callbacks.pop(ticket, (None, None))
        if on_done is not None:
            on_done(ticket, result)
        self.finished.emit(ticket, result)

    def _on_failed(self, ticket: int, message: str) -> None:
        _, on_error = self._callbacks.pop(ticket, (None, None))
        if on_error is not None:
            on_error(ticket, message)
        self.failed.emit(ticket, message)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the pool is idle (shutdown and tests)."""
        return self._pool.waitForDone(msecs)
