"""The benchmark scripts start as the README runs them (``python benchmarks/NAME.py``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.exit_codes import EXIT_INPUT

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_a_benchmark_script_finds_the_project_and_explains_itself(script: Path) -> None:
    result = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:")


def test_the_devset_benchmark_without_data_says_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "HARMONIZER_DATA": str(tmp_path)}
    command = [sys.executable, str(ROOT / "benchmarks" / "devset.py"), "--devset", str(tmp_path / "devset")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == EXIT_INPUT
    assert "labelme_regions not found" in result.stderr and "HARMONIZER_DATA" in result.stderr
    assert "Traceback" not in result.stderr
