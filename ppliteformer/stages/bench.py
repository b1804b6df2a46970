"""Stage `bench`: Paddle Lite x86 latency of the x86 `.nb` (1 thread, batch and seq from config)."""
from __future__ import annotations

import json

from ..bench import measure_latency, synthetic_inputs
from ..pipeline import Stage
from ..runtimes import NB_FILE, PaddleInferenceModel, open_lite
from ..standalone_predictor import META_FILE


def _time(model, folder, cfg, engine: str, label: str) -> dict:
    meta_file = folder / META_FILE
    vocab_size = json.loads(meta_file.read_text())["model_config"]["vocab_size"] if meta_file.is_file() else 100
    result = measure_latency(model, synthetic_inputs(cfg.batch_size, cfg.seq_len, vocab_size), cfg.warmup, cfg.repeats)
    result.update({"engine": engine, "threads": 1, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len})
    print(f"{label}: {engine} median {result['median_ms']} ms (batch {cfg.batch_size}, seq {cfg.seq_len}, 1 thread)",
          flush=True)
    return result


def bench_lite(nb_path, cfg, label: str = "bench") -> dict:
    """Lite x86 runs one math thread (its Python API on x86 exposes no thread setting)."""
    return _time(open_lite(nb_path), nb_path.parent, cfg, "paddle_lite_x86", label)


def bench_int8_x86(model_dir, cfg, label: str) -> dict:
    """An int8 program on the fastest real int8 runtime here: Paddle Inference with oneDNN int8
    kernels (Lite x86 2.13 cannot run int8 matmuls; paddle2onnx 1.2.9 drops the matmul
    quantize/dequantize pairs, so ONNX Runtime would time a float model)."""
    return _time(PaddleInferenceModel(model_dir, threads=1, onednn_int8=True), model_dir, cfg,
                 "paddle_inference_onednn_int8", label)


def stage(cfg, source: str = "convert", name: str = "bench") -> Stage:
    """Time the x86 `.nb` made by stage ``source``."""
    return Stage(name, lambda ctx: bench_lite(ctx.input(source) / "x86" / NB_FILE, cfg, name), cfg, inputs=(source,))


def int8_stage(cfg, source: str, name: str) -> Stage:
    """Time the int8 program made by stage ``source`` on oneDNN int8."""
    return Stage(name, lambda ctx: bench_int8_x86(ctx.input(source), cfg, name), cfg, inputs=(source,))
