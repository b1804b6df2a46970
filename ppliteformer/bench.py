"""Latency measurement: warm-up, then repeated timed runs; median, p90 and min in ms."""
from __future__ import annotations

import time

import numpy as np

from .standalone_predictor import batch_arrays


def synthetic_inputs(batch_size: int, seq_len: int, vocab_size: int = 100, seed: int = 0) -> dict:
    """Full-length inputs (no padding) with ids drawn from the regular vocabulary."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(5, max(6, vocab_size), size=(batch_size, seq_len)).tolist()
    return batch_arrays(ids)


def measure_latency(model, inputs: dict, warmup: int, repeats: int) -> dict:
    """Times ``model.run(inputs)``; wall-clock milliseconds per call."""
    for _ in range(warmup):
        model.run(inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.run(inputs)
        times.append((time.perf_counter() - start) * 1e3)
    times = np.asarray(times)
    return {"median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "min_ms": round(float(times.min()), 3), "repeats": repeats, "warmup": warmup}
