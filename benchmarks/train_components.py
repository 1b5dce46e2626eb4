"""Speed of the SCS-Co training components; prints one JSON object.

    python benchmarks/train_components.py [--runs N] [--device cpu|cuda] [--style-sizes 64 128 256]

- ``negatives_ms``: :func:`trainer.negatives.generate_negatives`, batch 16, K = 6, at 256x256
  and at 128x128 (negatives can be generated at the style size directly), median of the runs.
- ``loss_ms``: one :class:`trainer.losses.SCSCoLoss` forward and backward, batch 8, K = 6, working
  size 256, for each style size (the size of the images VGG-16 sees), median of the runs.
The style network has the random fallback weights (same cost as ImageNet's). Images are photos
from ``../shared/data/backgrounds`` when that folder exists, smooth random pictures otherwise.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.losses import LossConfig, SCSCoLoss  # noqa: E402
from trainer.negatives import NegativeConfig, generate_negatives  # noqa: E402
from trainer.style import load_style_features  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "backgrounds"


def make_batch(b: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, str]:
    """Real images, elliptical foreground masks of varied size, and tinted composites."""
    photos = sorted(SHARED.glob("*.jpg"))
    if photos:
        import cv2

        images = []
        for i in range(b):
            image = cv2.imread(str(photos[i % len(photos)]))[..., ::-1]
            side = min(image.shape[:2])
            image = cv2.resize(image[:side, :side], (size, size), interpolation=cv2.INTER_AREA)
            images.append(torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255)
        real, source = torch.stack(images), "shared/data/backgrounds photos"
    else:
        real = F.interpolate(torch.rand(b, 3, 8, 8), size=size, mode="bicubic", align_corners=False).clamp(0, 1)
        source = "synthetic"
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    radius = torch.linspace(0.25, 0.6, b).view(b, 1, 1)
    mask = ((yy / radius) ** 2 + (xx / (radius * 1.3)) ** 2 < 1).float().unsqueeze(1)
    tint = torch.tensor([1.25, 1.0, 0.75]).view(1, 3, 1, 1)
    composite = torch.lerp(real, (real * tint).clamp(0, 1), mask)
    return real.to(device), mask.to(device), composite.to(device), source


def median_ms(fn: Callable[[], object], runs: int, device: torch.device) -> float:
    times = []
    for i in range(runs + 1):  # the first run warms up
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--style-sizes", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator(device=device).manual_seed(0)
    results: dict[str, object] = {"device": str(device), "threads": torch.get_num_threads()}

    real, mask, composite, results["images"] = make_batch(16, 256, device)
    config = NegativeConfig(count=6)
    small = [F.interpolate(x, size=128, mode="area") for x in (real, mask, composite)]
    full = (real, mask, composite)
    results["negatives_ms"] = {
        "B16_K6_256": median_ms(lambda: generate_negatives(*full, config, generator), args.runs, device),
        "B16_K6_128": median_ms(lambda: generate_negatives(*small, config, generator), args.runs, device),
    }

    real, mask, composite, _ = make_batch(8, 256, device)
    negatives = generate_negatives(real, mask, composite, config, generator)
    style = load_style_features("random", device)
    results["loss_ms"] = {}
    for size in args.style_sizes:
        loss = SCSCoLoss(style, LossConfig(style_size=size))

        def step() -> None:
            output = composite.clone().requires_grad_()
            loss(output, real, mask, negatives)["total"].backward()

        runs = args.runs if size <= 128 or device.type == "cuda" else 1
        results["loss_ms"][f"B8_K6_256_style{size}"] = median_ms(step, runs, device)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
