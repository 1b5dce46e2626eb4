from __future__ import annotations

import multiprocessing
import os

import pytest

from engine import cpu_work


def _use_the_worker_threads() -> None:
    assert list(cpu_work.worker_threads().map(abs, [-1, -2, -3])) == [1, 2, 3]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_worker_threads_of_its_own() -> None:
    _use_the_worker_threads()  # the parent's threads exist; the child has none of them
    child = multiprocessing.get_context("fork").Process(target=_use_the_worker_threads)
    child.start()
    child.join(30)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == 0
