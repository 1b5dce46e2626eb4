"""Command-line cold start; prints one JSON object.

    python benchmarks/startup.py [--runs N] [--model default]

- ``import_torch_s``: wall time of a fresh ``python -c "import torch"``, the floor of any run.
- ``harmonize_256_s``: wall time of a fresh ``python main.py harmonize`` on a 256x256 composite
  with a centred square mask, on the CPU, PNG written.
- ``overhead_s``: the difference of the two medians: what the program adds to importing torch.
- ``imports_ms``: where the import time of that run goes (``python -X importtime``): each module's
  own time summed by top-level package, largest first; ``modules_loaded`` says whether the trainer
  or Qt were loaded.
Medians of ``--runs`` runs, the two commands interleaved so that a busy machine slows both alike.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def write_inputs(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    composite = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (256, 256))
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    cv2.imwrite(str(folder / "composite.png"), composite)
    cv2.imwrite(str(folder / "mask.png"), mask)
    return folder / "composite.png", folder / "mask.png"


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def import_breakdown(command: list[str]) -> tuple[dict[str, float], list[str]]:
    """Import milliseconds per top-level package (modules' own times), and which of trainer/Qt were loaded."""
    stderr = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], cwd=ROOT, check=True, capture_output=True, text=True).stderr
    totals: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:") :].split("|")
        totals[name.strip().split(".")[0]] += int(own) / 1000
    loaded = sorted(name for name in ("trainer", "PySide6", "harmonizer_gui") if name in totals)
    return {name: round(ms, 1) for name, ms in totals.most_common(12)}, loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        composite, mask = write_inputs(Path(tmp))
        harmonize = [sys.executable, "main.py", "-q", "harmonize", str(composite), str(mask), "-o", str(Path(tmp) / "out.png"),
                     "--overwrite", "--device", "cpu", "--model", args.model]  # fmt: skip
        torch_only = [sys.executable, "-c", "import torch"]
        wall(harmonize)  # fill the OS file cache once
        torch_times, harmonize_times = [], []
        for _ in range(args.runs):
            torch_times.append(wall(torch_only))
            harmonize_times.append(wall(harmonize))
        imports, loaded = import_breakdown(harmonize)
    report = {
        "model": args.model,
        "runs": args.runs,
        "import_torch_s": round(statistics.median(torch_times), 3),
        "harmonize_256_s": round(statistics.median(harmonize_times), 3),
        "overhead_s": round(statistics.median(harmonize_times) - statistics.median(torch_times), 3),
        "imports_ms": imports,
        "modules_loaded": {"trainer or Qt": loaded},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
