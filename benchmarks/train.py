"""Training speed; prints one JSON object.

    python benchmarks/train.py [--steps N] [--batch-size B]

- ``train_images_per_s``: optimisation throughput of the default generator at 256x256 with the
  full SCS-Co loss (K = 6 negatives generated on the device at the style network's input size,
  VGG-16 style terms at ``--style-size``, AdamW, gradient clipping), batches already in memory, on
  the CPU.
- ``step_ms``: the same as milliseconds per step, split into ``negatives_ms_per_batch`` and the rest.
- ``data_items_per_s_per_worker``: how fast one data-loading worker makes training samples from
  ``labelme_regions`` of the data folder (``$HARMONIZER_DATA``, else ``data/``) (synthesis included), when that folder exists.
With a CUDA GPU present, the step figures are added under ``cuda`` (mixed precision).
The style network has the random fallback weights; ImageNet's cost the same.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


from engine.model.generator import SCSCoGenerator
from engine.data_location import data_path
from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.losses import LossConfig, SCSCoLoss
from trainer.negatives import NegativeConfig, generate_negatives
from trainer.sources import discover
from trainer.style import load_style_features

LABELME = data_path("labelme_regions")


def synthetic_batch(batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    low = torch.rand(batch, 3, 8, 8, generator=generator)
    real = torch.nn.functional.interpolate(low, size=256, mode="bilinear", align_corners=False)
    mask = torch.zeros(batch, 1, 256, 256)
    mask[:, :, 64:192, 48:208] = 1.0
    composite = torch.where(mask.bool(), (real * torch.tensor([1.2, 1.0, 0.8]).view(1, 3, 1, 1)).clamp(0, 1), real)
    return {k: v.to(device) for k, v in (("real", real), ("mask", mask), ("composite", composite))}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_figures(device: torch.device, batch_size: int, steps: int, style_size: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = SCSCoGenerator().to(device).train()
    loss_config = LossConfig(style_size=style_size)
    loss_fn = SCSCoLoss(load_style_features("random", device), loss_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    batch = synthetic_batch(batch_size, device)
    generator = torch.Generator(device=device).manual_seed(0)
    step_times, negative_times = [], []
    for i in range(steps + 2):
        _sync(device)
        start = time.perf_counter()
        size = loss_config.style_shape(256, 256)
        small = [torch.nn.functional.interpolate(batch[k], size=size, mode="area") for k in ("real", "mask", "composite")]
        negatives = generate_negatives(*small, NegativeConfig(), generator)
        _sync(device)
        negatives_done = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            harmonized = model(batch["composite"], batch["mask"])["harmonized"]
            losses = loss_fn(harmonized.float(), batch["real"], batch["mask"], negatives, batch["composite"])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses["total"]).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        _sync(device)
        if i >= 2:  # warm-up steps excluded
            step_times.append(time.perf_counter() - start)
            negative_times.append(negatives_done - start)
    step = statistics.median(step_times)
    return {
        "batch_size": batch_size,
        "style_size": style_size,
        "train_images_per_s": round(batch_size / step, 2),
        "step_ms": round(step * 1000, 1),
        "negatives_ms_per_batch": round(statistics.median(negative_times) * 1000, 1),
        "negatives_share_of_step": round(statistics.median(negative_times) / step, 3),
    }


def data_figures(items: int) -> dict[str, float] | None:
    if not LABELME.is_dir():
        return None
    dataset = HarmonizationDataset([discover(LABELME)], "train", DataConfig())
    torch.set_num_threads(1)  # as in a loader worker
    dataset[0]
    start = time.perf_counter()
    for index in range(1, items + 1):
        dataset[index]
    elapsed = time.perf_counter() - start
    return {"data_items_per_s_per_worker": round(items / elapsed, 1), "data_source": "labelme_regions"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--data-items", type=int, default=100)
    parser.add_argument("--style-size", type=int, default=LossConfig().style_size, help="style network input side")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    report: dict = {"model": "SCS-Co default architecture", "torch": torch.__version__, "threads": threads}
    report.update(step_figures(torch.device("cpu"), args.batch_size, args.steps, args.style_size))
    data = data_figures(args.data_items)
    torch.set_num_threads(threads)
    if data:
        report.update(data)
    if torch.cuda.is_available():
        report["cuda"] = step_figures(torch.device("cuda"), args.batch_size, args.steps * 4, args.style_size)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
