"""Engine speed and memory; prints one JSON object.

    python benchmarks/inference.py [--runs N] [--device cpu|cuda]

- ``forward_ms_p50``: the bundled ``default`` model's forward pass at its working size
  (``working_size``), batch 1.
- ``fullres_12mp_s``: a 4000x3000 composite end to end (decoded array in, harmonized array out),
  median of the runs, for the ``default`` model and for the classical transfer; also the worst
  case of a mask covering the whole image (``fullres_12mp_whole_image_mask_s``); the same two at
  3840x2160 (``fullres_4k_s``, ``fullres_4k_whole_image_mask_s``).
- ``peak_rss_mb``: peak resident memory of a fresh process harmonizing a 6000x4000 composite
  (Python and torch included); ``idle_rss_mb`` is the same process before it starts.
- ``png_encode_24mp_s``: encoding a 6000x4000 harmonized result as PNG (``engine.imageio``), 8- and
  16-bit, with OpenCV's PNG writer beside it for comparison; ``png_24mp_mb`` the file sizes.
With a CUDA GPU present, the same figures are added under ``cuda``.
The composite is a photo from the data folder (``$HARMONIZER_DATA``, else ``data/``) with a cut-out's shape as the mask when that
folder exists, a synthetic picture otherwise.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch


from engine.data_location import data_root
from engine.harmonizer import ClassicalHarmonizer, Harmonizer, load_harmonizer
from engine.imageio import encode_png
from engine.pipeline import harmonize_array

DATA = data_root()


def make_composite(width: int, height: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A realistic composite of the given size: photo background, object-shaped soft mask."""
    backgrounds = sorted((DATA / "backgrounds").glob("*.jpg"))
    cutouts = sorted((DATA / "cutouts").glob("*.png"))
    if backgrounds and cutouts:
        image = cv2.resize(cv2.imread(str(backgrounds[0]))[..., ::-1], (width, height), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.imread(str(cutouts[len(cutouts) // 2]), cv2.IMREAD_UNCHANGED)[..., 3]
        source = "data-folder photo and cut-out"
    else:
        rng = np.random.default_rng(0)
        image = cv2.resize(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8), (width, height))
        alpha = np.zeros((200, 200), np.uint8)
        cv2.circle(alpha, (100, 100), 90, 255, -1)
        source = "synthetic"
    side = int(min(width, height) * 0.6)  # the object spans 60% of the shorter side
    shape = cv2.resize(alpha, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    mask = np.zeros((height, width), np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    mask[top : top + side, left : left + side] = shape
    composite = image.copy()
    inside = mask > 0
    composite[inside] = np.clip(composite[inside] * np.array([1.25, 1.0, 0.75]), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(composite), mask, source


def forward_ms(harmonizer: Harmonizer, runs: int) -> float:
    size, device = harmonizer.working_size, harmonizer.device
    composite = torch.rand(1, 3, size, size, device=device)
    mask = torch.zeros(1, 1, size, size, device=device)
    mask[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    times = []
    for i in range(runs + 5):
        start = time.perf_counter()
        harmonizer.predict_mapping(composite, mask)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 5:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def png_figures(harmonizer: Harmonizer, runs: int) -> dict[str, dict[str, float]]:
    """Seconds to encode a 24 MP result as PNG, ours and OpenCV's, and the files' sizes."""
    composite, mask, _ = make_composite(6000, 4000)
    result = harmonize_array(harmonizer, composite, mask)
    seconds: dict[str, float] = {}
    sizes: dict[str, float] = {}
    for depth, pixels in (("uint8", result), ("uint16", result.astype(np.uint16) * 257)):
        encoders = {depth: lambda: encode_png(pixels), f"opencv_{depth}": lambda: cv2.imencode(".png", pixels[..., ::-1])[1]}
        for name, encode in encoders.items():
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                data = encode()
                times.append(time.perf_counter() - start)
            seconds[name] = round(statistics.median(times), 3)
            sizes[name] = round(len(data) / 1e6, 1)
    return {"png_encode_24mp_s": seconds, "png_24mp_mb": sizes}


def fullres_s(harmonizer: Harmonizer, composite: np.ndarray, mask: np.ndarray, runs: int) -> float:
    harmonize_array(harmonizer, composite[:512, :512], mask[:512, :512])  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        harmonize_array(harmonizer, composite, mask)
        if harmonizer.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_child(device: str) -> dict[str, float]:
    """Run the 24 MP case in a fresh process so its peak memory is its own."""
    output = subprocess.run(
        [sys.executable, __file__, "--rss-child", "--device", device], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, not ``ru_maxrss``: that one keeps the
    peak of the parent the process was forked from."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child_main(device: str) -> None:
    idle = peak_rss_mb()
    composite, mask, _ = make_composite(6000, 4000)
    harmonize_array(load_harmonizer("default", device), composite, mask)
    peak = peak_rss_mb()
    print(json.dumps({"idle_rss_mb": round(idle, 1), "peak_rss_mb": round(peak, 1)}))


def measure(device: torch.device, runs: int) -> dict:
    composite, mask, source = make_composite(4000, 3000)
    network = load_harmonizer("default", str(device))
    figures = {
        "forward_ms_p50": round(forward_ms(network, runs * 10), 2),
        "working_size": network.working_size,
        "fullres_12mp_s": round(fullres_s(network, composite, mask, runs), 3),
        "fullres_12mp_classical_s": round(fullres_s(ClassicalHarmonizer(device), composite, mask, runs), 3),
        "fullres_12mp_foreground_fraction": round(float((mask > 0).mean()), 3),
        "fullres_12mp_whole_image_mask_s": round(fullres_s(network, composite, np.ones_like(mask), runs), 3),
        "composite_source": source,
    }
    composite, mask, _ = make_composite(3840, 2160)
    figures["fullres_4k_s"] = round(fullres_s(network, composite, mask, runs), 3)
    figures["fullres_4k_whole_image_mask_s"] = round(fullres_s(network, composite, np.ones_like(mask), runs), 3)
    figures.update(png_figures(network, runs))
    figures.update(peak_rss_child(device.type))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="full-resolution runs (forward: ten times more)")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child_main(args.device)
        return
    default = load_harmonizer("default", "cpu")
    report = {
        "model": "default",
        "description": default.description,
        "parameters": sum(p.numel() for p in getattr(default, "model", torch.nn.Module()).parameters()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": measure(torch.device("cpu"), args.runs),
    }
    # Top-level keys name the CPU figures, as the issue asks; GPU figures sit under "cuda".
    report.update({k: v for k, v in report["cpu"].items() if k in ("forward_ms_p50", "fullres_12mp_s", "peak_rss_mb")})
    if torch.cuda.is_available():
        report["cuda"] = measure(torch.device("cuda"), args.runs)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
