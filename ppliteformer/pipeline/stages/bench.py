"""Stage `bench`: Paddle Lite x86 latency of the x86 `.nb` (1 thread, batch and seq from config)."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ...bench.latency import measure_latency, synthetic_inputs
from ...layout import DATA_STAGE, META_FILE, NB_FILE
from ...tasks import DEFAULT_TASK, get_task
from ..runner import Stage
from ...runtimes.host import PaddleInferenceModel
from ...device.lite_runtime import mkl_avx2_env
from ...device.model_files import read_id_dtype

log = logging.getLogger(__name__)


def _inputs(folder: Path, cfg, seq_len: int) -> dict:
    meta_file = folder / META_FILE
    vocab_size = json.loads(meta_file.read_text())["model_config"]["vocab_size"] if meta_file.is_file() else 100
    return synthetic_inputs(cfg.batch_size, seq_len, vocab_size, id_dtype=read_id_dtype(folder))


def median_test_length(data_dir, model_dir) -> int:
    """The median token count of the test split's texts under the model's own tokenizer ([CLS] and
    [SEP] included): what a typical request costs, beside the bench length's worst case."""
    from ...models.modeling import load_tokenizer

    meta = json.loads((Path(model_dir) / META_FILE).read_text())
    task = get_task(meta.get("task", DEFAULT_TASK))
    splits = task.read_splits(data_dir)
    ids, _ = task.encode(load_tokenizer(str(model_dir)), splits.test, int(meta["max_seq_len"]), splits.labels)
    return int(np.median([len(row) for row in ids]))


def _timed_at_both_lengths(measure, cfg, median_len, engine: str, label: str) -> dict:
    """``measure(seq_len) -> timing`` at bench.seq_len (the headline figure) and, unless ``median_len``
    is None, at the test split's median length."""
    result = measure(cfg.seq_len)
    result.update({"engine": engine, "threads": 1, "batch_size": cfg.batch_size, "seq_len": cfg.seq_len})
    also = ""
    if median_len is not None:
        at_median = measure(median_len)
        result["at_median_length"] = {"seq_len": median_len, **{k: at_median[k] for k in ("median_ms", "p90_ms")}}
        also = f", {at_median['median_ms']} ms at the test split's median length {median_len}"
    memory = f", peak memory {result['peak_rss_mb']} MB" if "peak_rss_mb" in result else ""
    log.info(f"{label}: {engine} median {result['median_ms']} ms at seq {cfg.seq_len}{also} (batch "
             f"{cfg.batch_size}, 1 thread{memory})")
    return result


def bench_lite(nb_path, cfg, median_len: int | None = None, label: str = "bench") -> dict:
    """Lite x86 in a process of its own (``ppliteformer.bench.child``), so that the peak memory
    recorded is this model's alone, with ``mkl_avx2_env``. Lite x86 runs one math thread (no
    thread setting on x86)."""
    from ...bench.side_by_side import run_engine

    nb_path, environment = Path(nb_path), mkl_avx2_env()

    def measure(seq_len):
        with tempfile.TemporaryDirectory() as tmp:
            inputs_file = Path(tmp) / "inputs.npz"
            np.savez(inputs_file, **_inputs(nb_path.parent, cfg, seq_len))
            timing = run_engine("paddle_lite", nb_path, inputs_file, cfg.warmup, cfg.repeats, 1, env=environment)
        result = {key: timing[key] for key in ("median_ms", "p90_ms", "min_ms", "peak_rss_mb")}
        result.update({"repeats": cfg.repeats, "warmup": cfg.warmup, "environment": environment})
        return result

    return _timed_at_both_lengths(measure, cfg, median_len, "paddle_lite_x86", label)


def bench_int8_x86(model_dir, cfg, median_len: int, label: str) -> dict:
    """An int8 program on the fastest real int8 runtime here: Paddle Inference with oneDNN int8
    kernels (Lite x86 2.13 cannot run int8 matmuls; paddle2onnx 1.2.9 drops the matmul
    quantize/dequantize pairs, so ONNX Runtime would time a float model)."""
    model_dir = Path(model_dir)
    model = PaddleInferenceModel(model_dir, threads=1, onednn_int8=True)
    return _timed_at_both_lengths(
        lambda seq_len: measure_latency(model, _inputs(model_dir, cfg, seq_len), cfg.warmup, cfg.repeats),
        cfg, median_len, "paddle_inference_onednn_int8", label)


def stage(cfg, model: str, source: str = "convert", name: str = "bench") -> Stage:
    """Time the x86 `.nb` made by stage ``source`` from the inference model of stage ``model``."""
    def run(ctx):
        median_len = median_test_length(ctx.input(DATA_STAGE), ctx.input(model))
        return bench_lite(ctx.input(source) / "x86" / NB_FILE, cfg, median_len, name)
    return Stage(name, run, cfg, inputs=(DATA_STAGE, model, source))


def int8_stage(cfg, source: str, name: str) -> Stage:
    """Time the int8 program made by stage ``source`` on oneDNN int8."""
    def run(ctx):
        return bench_int8_x86(ctx.input(source), cfg, median_test_length(ctx.input(DATA_STAGE), ctx.input(source)), name)
    return Stage(name, run, cfg, inputs=(DATA_STAGE, source))
