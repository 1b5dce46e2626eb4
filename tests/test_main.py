"""The program's entry point: each command imports only what it needs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

import main

ROOT = Path(__file__).resolve().parent.parent


def test_harmonize_loads_neither_the_trainer_nor_qt(tmp_path: Path) -> None:
    composite = np.full((24, 32, 3), 120, np.uint8)
    mask = np.zeros((24, 32), np.uint8)
    mask[6:18, 8:24] = 255
    cv2.imwrite(str(tmp_path / "c.png"), composite)
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    argv = ["-q", "harmonize", str(tmp_path / "c.png"), str(tmp_path / "m.png"), "-o", str(tmp_path / "out.png"), "--model", "classical"]
    script = (
        "import json, sys, main\n"
        f"code = main.main({argv!r})\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'trainer', 'PySide6', 'harmonizer_gui'})\n"
        "print(json.dumps([code, loaded]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    code, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert code == 0 and (tmp_path / "out.png").is_file()
    assert loaded == []


def test_the_full_parser_still_lists_every_command() -> None:
    help_text = main.build_parser().format_help()
    for command in ("gui", "harmonize", "evaluate", "train", "devset"):
        assert command in help_text
    assert "train" not in main.build_parser("harmonize").format_help()
