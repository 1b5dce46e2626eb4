"""Data-loading speed from the original folders and from a prepared cache; prints one JSON object.

    python main.py prepare FOLDER [FOLDER ...] --out CACHE --size 128
    python benchmarks/prepared.py CACHE [--items N] [--rounds R]

Training items (crop, resize, mask, synthesis) per second, made one after another in this
process, from the folders recorded in ``CACHE/prepared.json`` and from the cache, at the cache's
training size. Both datasets list their photos in the same order, so item ``i`` is the same photo
in both; the same evenly spread items are timed. The best of ``--rounds`` rounds is reported.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.prepared import expand_data, read_index
from trainer.sources import discover


def items_per_s(folders: list[Path], size: int, items: int, rounds: int) -> float:
    """Best rate over ``rounds`` of making ``items`` evenly spread training items."""
    dataset = HarmonizationDataset([discover(folder) for folder in folders], "train", DataConfig(size=size))
    step = max(1, len(dataset) // items)
    indices = list(range(0, len(dataset), step))[:items]
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for index in indices:
            dataset[index]
        best = max(best, len(indices) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="a folder written by main.py prepare")
    parser.add_argument("--items", type=int, default=300, help="items timed per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    index = read_index(args.cache)
    origins = [Path(source.origin) for source in index.sources]
    original = items_per_s(origins, index.size, args.items, args.rounds)
    cached = items_per_s(expand_data([args.cache], index.size), index.size, args.items, args.rounds)
    print(json.dumps({
        "size": index.size, "items": args.items, "original_items_per_s": round(original, 1),
        "cache_items_per_s": round(cached, 1), "speedup": round(cached / original, 2),
    }))


if __name__ == "__main__":
    main()
