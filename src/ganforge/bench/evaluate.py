"""``ganforge bench evaluate``: feature-extraction throughput and the time of a 10k-sample FID."""
from __future__ import annotations

import json
import time

import torch

from ..config import DataConfig
from ..data import load_images
from ..data.download import default_cache_dir
from ..files import write_json
from ..metrics.evaluate import array_batches, evaluate_images
from ..metrics.features import build_features


def bench_evaluate(num: int = 10000, features: str = "fmnist", json_out: str | None = None) -> dict:
    """Measure, print and (optionally) write JSON.

    Keys: ``extract_images_per_second`` (features of ``num`` real images, after a
    warm-up batch), ``fid_seconds_cold`` (FID of ``num`` images vs ``num`` train
    images, reference features computed), ``fid_seconds_warm`` (same, reference cached).
    """
    test = load_images(DataConfig(name="fashion-mnist", split="test"))[:num]
    extractor = build_features(features)
    extractor(test[:500])  # warm-up: first-call allocations and thread pool start
    t = time.perf_counter()
    for batch in array_batches(test):
        extractor(batch)
    extract_s = time.perf_counter() - t
    ref = DataConfig(name="fashion-mnist", split="train", cache_dir=str(default_cache_dir() / "bench-tmp"))
    timings = {}
    for label in ("cold", "warm"):
        t = time.perf_counter()
        result = evaluate_images(array_batches(test), len(test), ref, ("fid",), features)
        timings[label] = time.perf_counter() - t
    out = {"features": features, "num": len(test), "threads": torch.get_num_threads(),
           "extract_images_per_second": round(len(test) / extract_s, 1),
           "fid_seconds_cold": round(timings["cold"], 2), "fid_seconds_warm": round(timings["warm"], 2),
           "fid": result["fid"]}
    print(json.dumps(out, indent=2))
    if json_out:
        write_json(out, json_out)
    return out
