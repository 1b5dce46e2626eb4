"""Leaving a torchrun replica: its exit code and its last output survive."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_replica_leaves_with_its_code_and_its_unflushed_output() -> None:
    # Piped, stdout is block-buffered: without the flush the last event would be lost.
    script = ("import sys; from trainer import distributed; "
              "print('{\"event\": \"done\"}'); sys.stderr.write('last words'); distributed.leave(3)")
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=buffered)
    assert result.returncode == 3
    assert result.stdout == '{"event": "done"}\n'
    assert result.stderr == "last words"
