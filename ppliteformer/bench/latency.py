"""Latency measurement: warm-up, then repeated timed runs; median, p90 and min in ms.

``measure_latency`` lives in the standalone predictor, which times models on the device
with no ppliteformer installed; it is re-exported here for the pipeline.
"""
from __future__ import annotations

import numpy as np

from ..device.lite_runtime import batch_arrays, measure_latency  # noqa: F401  (re-exported)


def synthetic_inputs(batch_size: int, seq_len: int, vocab_size: int = 100, seed: int = 0,
                     id_dtype: str = "int64") -> dict:
    """Full-length inputs (no padding) with ids drawn from the regular vocabulary."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(5, max(6, vocab_size), size=(batch_size, seq_len)).tolist()
    return batch_arrays(ids, id_dtype=id_dtype)
