"""The program's command line: every way in reaches it, and each command imports only what it needs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import tomllib

import cv2
import numpy as np

from harmonizer_cli import program

ROOT = Path(__file__).resolve().parents[2]


def test_harmonize_loads_neither_the_trainer_nor_qt(tmp_path: Path) -> None:
    composite = np.full((24, 32, 3), 120, np.uint8)
    mask = np.zeros((24, 32), np.uint8)
    mask[6:18, 8:24] = 255
    cv2.imwrite(str(tmp_path / "c.png"), composite)
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    argv = ["-q", "harmonize", str(tmp_path / "c.png"), str(tmp_path / "m.png"), "-o", str(tmp_path / "out.png"), "--model", "classical"]
    script = (
        "import json, sys\nfrom harmonizer_cli import program\n"
        f"code = program.main({argv!r})\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'trainer', 'PySide6', 'harmonizer_gui'})\n"
        "print(json.dumps([code, loaded]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    code, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert code == 0 and (tmp_path / "out.png").is_file()
    assert loaded == []


def test_the_full_parser_still_lists_every_command() -> None:
    help_text = program.build_parser().format_help()
    for command in ("gui", "harmonize", "evaluate", "train", "devset"):
        assert command in help_text
    assert "train" not in program.build_parser("harmonize").format_help()


def test_the_window_opens_without_loading_the_trainer(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from harmonizer_cli import program\n"
        "app = QApplication(sys.argv[:1])\n"
        "def report():\n"
        "    windows = [w.__class__.__name__ for w in app.topLevelWidgets() if w.isVisible()]\n"
        "    print(json.dumps([windows, sorted(m for m in sys.modules if m.split('.')[0] == 'trainer')]), flush=True)\n"
        "    for window in app.topLevelWidgets():\n"
        "        window.close()\n"
        "    app.quit()\n"
        "QTimer.singleShot(0, report)\n"
        "sys.exit(program.main([]))\n"
    )
    home = {key: str(tmp_path / key) for key in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
    env = {**os.environ, **home, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    windows, trainer_modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert "MainWindow" in windows
    assert trainer_modules == []


def test_a_known_error_ends_a_command_with_its_code_and_message(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert program.main(["harmonize", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out.png")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.png'} does not exist"
    assert program.main(["devset", str(tmp_path / "devset"), "--data", str(tmp_path / "no-data"), "--part", "labelme"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_every_way_in_runs_the_same_program() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["harmonizer"].split(":")
    assert (module, function) == ("harmonizer_cli.program", "main")
    for command in ([sys.executable, "main.py", "--help"], [sys.executable, "-m", "harmonizer_cli", "--help"]):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert all(name in result.stdout for name in ("harmonize", "train", "prepare", "devset"))
