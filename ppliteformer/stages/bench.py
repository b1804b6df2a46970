"""Stage `bench`: Paddle Lite x86 latency of the x86 `.nb` (1 thread, batch and seq from config)."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..bench import measure_latency, synthetic_inputs
from ..layout import META_FILE, NB_FILE
from ..pipeline import Stage
from ..runtimes import PaddleInferenceModel
from ..device.predictor import mkl_avx2_env

log = logging.getLogger(__name__)


def _inputs(folder: Path, cfg) -> dict:
    meta_file = folder / META_FILE
    vocab_size = json.loads(meta_file.read_text())["model_config"]["vocab_size"] if meta_file.is_file() else 100
    return synthetic_inputs(cfg.batch_size, cfg.seq_len, vocab_size)


def _report(result: dict, cfg, engine: str, label: str) -> dict:
    result.update({"engine": engine, "threads": 1, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len})
    memory = f", peak memory {result['peak_rss_mb']} MB" if "peak_rss_mb" in result else ""
    log.info(f"{label}: {engine} median {result['median_ms']} ms (batch {cfg.batch_size}, seq {cfg.seq_len}, "
             f"1 thread{memory})")
    return result


def bench_lite(nb_path, cfg, label: str = "bench") -> dict:
    """Lite x86 in a process of its own (``ppliteformer.bench_child``), so that the peak memory
    recorded is this model's alone, with ``mkl_avx2_env``. Lite x86 runs one math thread (no
    thread setting on x86)."""
    from ..engines import run_engine

    nb_path, environment = Path(nb_path), mkl_avx2_env()
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = Path(tmp) / "inputs.npz"
        np.savez(inputs_file, **_inputs(nb_path.parent, cfg))
        timing = run_engine("paddle_lite", nb_path, inputs_file, cfg.warmup, cfg.repeats, 1, env=environment)
    result = {key: timing[key] for key in ("median_ms", "p90_ms", "min_ms", "peak_rss_mb")}
    result.update({"repeats": cfg.repeats, "warmup": cfg.warmup, "environment": environment})
    return _report(result, cfg, "paddle_lite_x86", label)


def bench_int8_x86(model_dir, cfg, label: str) -> dict:
    """An int8 program on the fastest real int8 runtime here: Paddle Inference with oneDNN int8
    kernels (Lite x86 2.13 cannot run int8 matmuls; paddle2onnx 1.2.9 drops the matmul
    quantize/dequantize pairs, so ONNX Runtime would time a float model)."""
    model_dir = Path(model_dir)
    result = measure_latency(PaddleInferenceModel(model_dir, threads=1, onednn_int8=True), _inputs(model_dir, cfg),
                             cfg.warmup, cfg.repeats)
    return _report(result, cfg, "paddle_inference_onednn_int8", label)


def stage(cfg, source: str = "convert", name: str = "bench") -> Stage:
    """Time the x86 `.nb` made by stage ``source``."""
    return Stage(name, lambda ctx: bench_lite(ctx.input(source) / "x86" / NB_FILE, cfg, name), cfg, inputs=(source,))


def int8_stage(cfg, source: str, name: str) -> Stage:
    """Time the int8 program made by stage ``source`` on oneDNN int8."""
    return Stage(name, lambda ctx: bench_int8_x86(ctx.input(source), cfg, name), cfg, inputs=(source,))
