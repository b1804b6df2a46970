"""Stage `bench`: Paddle Lite x86 latency of the x86 `.nb` (1 thread, batch and seq from config)."""
from __future__ import annotations

import json

from ..bench import measure_latency, synthetic_inputs
from ..pipeline import Stage
from ..runtimes import NB_FILE, open_lite
from ..standalone_predictor import META_FILE


def bench_lite(nb_path, cfg, label: str = "bench") -> dict:
    """Lite x86 runs one math thread (its Python API on x86 exposes no thread setting)."""
    meta_file = nb_path.parent / META_FILE
    vocab_size = json.loads(meta_file.read_text())["model_config"]["vocab_size"] if meta_file.is_file() else 100
    inputs = synthetic_inputs(cfg.batch_size, cfg.seq_len, vocab_size)
    result = measure_latency(open_lite(nb_path), inputs, cfg.warmup, cfg.repeats)
    result.update({"engine": "paddle_lite_x86", "threads": 1, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len})
    print(f"{label}: Lite x86 median {result['median_ms']} ms (batch {cfg.batch_size}, seq {cfg.seq_len}, 1 thread)",
          flush=True)
    return result


def stage(cfg, source: str = "convert", name: str = "bench") -> Stage:
    """Time the x86 `.nb` made by stage ``source``."""
    return Stage(name, lambda ctx: bench_lite(ctx.input(source) / "x86" / NB_FILE, cfg, name), cfg, inputs=(source,))
