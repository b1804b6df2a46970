"""Side-by-side benchmark of one model on Paddle Lite (x86), Paddle Inference and ONNX Runtime.

``bench_side_by_side`` times the same synthetic inputs on each engine, every engine (and
every configuration of it) in a child process of its own (``ppliteformer.bench.child``), so
each peak memory is that engine's alone and a Paddle Lite abort cannot end the caller.

Given an inference model folder each engine prepares the file it runs (``bench/engines.py``: an
x86 `.nb` for Lite, the folder itself for Paddle Inference, a paddle2onnx export for ONNX
Runtime) and all three run; given a `.nb` only Lite can run. Each engine's configurations
are tried and the fastest reported. The CPU's fp32 peak (a compiled FMA loop and an sgemm,
``cpu_fp32_peak``) is measured only when asked (``measure_peak``, ``bench --peak``).
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from .latency import synthetic_inputs
from .engines import CHILD_TIMEOUT_S, ENGINES as ENGINE_REGISTRY
from .child_process import run_json_child
from ..device.model_files import PredictorError, read_id_dtype
from ..errors import ConfigError, ModelFileError, StageError
from ..layout import META_FILE, MODEL_FILE, NB_FILE, PARAMS_FILE
from ..runtimes.lite_convert import REWRITES_FILE
from ..runtimes.host import child_env, inference_model_bytes

ENGINES = tuple(ENGINE_REGISTRY)
LOGITS_TOLERANCE = 1e-3
SEED = 0


def _resolve_model(path) -> tuple:
    """(kind, inference folder or None, .nb or None, folder holding the meta) of ``path``."""
    path = Path(path)
    hint = ("Give an exported inference model folder (model.pdmodel and model.pdiparams, e.g. the 'export' "
            "folder of a work directory) or a Paddle Lite .nb file.")
    if not path.exists():
        what = "no such .nb file" if path.suffix == ".nb" else "no such file or folder"
        raise ModelFileError(f"{path}: {what}. {hint}")
    if path.is_dir():
        if (path / MODEL_FILE).is_file() and (path / PARAMS_FILE).is_file():
            return "inference", path, None, path
        if (path / NB_FILE).is_file():
            return "nb", None, path / NB_FILE, path
        raise ModelFileError(f"{path} is not a model folder: it holds neither {MODEL_FILE} + {PARAMS_FILE} nor "
                             f"{NB_FILE}. {hint}")
    if path.suffix == ".nb":
        return "nb", None, path, path.parent
    if path.name == MODEL_FILE and (path.parent / PARAMS_FILE).is_file():
        return "inference", path.parent, None, path.parent
    raise ModelFileError(f"{path} is neither a .nb file nor an inference model folder. {hint}")


def _read_meta(folder: Path):
    meta_file = folder / META_FILE
    if not meta_file.is_file():
        return None
    try:
        return json.loads(meta_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ModelFileError(f"{meta_file} is not valid JSON. Export or convert the model again.") from None


def _check_numbers(batch_size, seq_len, warmup, repeats, threads) -> None:
    for name, value, least in (("--batch-size", batch_size, 1), ("--seq-len", seq_len, 1),
                               ("--warmup", warmup, 0), ("--repeats", repeats, 1), ("--threads", threads, 1)):
        if not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} {value}: it must be a whole number of at least {least}.")


def _choose_engines(engines, kind) -> tuple:
    """(engines to run, {engine: why skipped})."""
    if engines is not None:
        engines = list(dict.fromkeys(engines))
        unknown = [e for e in engines if e not in ENGINES]
        if unknown or not engines:
            raise ConfigError(f"--engines {','.join(unknown) or '(none)'}: unknown engine. Choose from: "
                              f"{', '.join(ENGINES)}.")
    if kind == "nb":
        need_folder = [e for e in (engines or []) if ENGINE_REGISTRY[e].needs_inference_model]
        if need_folder:
            raise ConfigError(f"{', '.join(need_folder)} cannot run a .nb file: they need the inference model "
                              "folder (model.pdmodel and model.pdiparams) the .nb was converted from. Give that "
                              "folder as --model to run all three engines, or ask only for --engines paddle_lite.")
        why = "a .nb runs on Paddle Lite only; give the inference model folder to run this engine too"
        return [e for e in ENGINES if not ENGINE_REGISTRY[e].needs_inference_model], \
            {e: why for e in ENGINES if ENGINE_REGISTRY[e].needs_inference_model}
    return list(engines or ENGINES), {}


def run_engine(engine, model, inputs_file, warmup, repeats, threads, variant="default", env=None,
               logits_out=None) -> dict:
    """Run ``ppliteformer.bench.child`` for one engine configuration; its JSON result."""
    command = [sys.executable, "-m", "ppliteformer.bench.child", "--engine", engine, "--model", str(model),
               "--inputs", str(inputs_file), "--warmup", str(warmup), "--repeats", str(repeats),
               "--threads", str(threads), "--variant", variant]
    if logits_out:
        command += ["--logits-out", str(logits_out)]
    math_threads = str(ENGINE_REGISTRY[engine].math_threads(threads))
    env = child_env(OMP_NUM_THREADS=math_threads, MKL_NUM_THREADS=math_threads, OPENBLAS_NUM_THREADS=math_threads,
                    GLOG_minloglevel="2", **(env or {}))
    return run_json_child(command, f"{engine} ({variant})", CHILD_TIMEOUT_S, env)


def _bench_engine(engine, model, inputs_file, work, warmup, repeats, threads, log) -> dict:
    """All of ``engine``'s configurations; the fastest one's result, the others' medians."""
    results, errors = {}, {}
    variants = ENGINE_REGISTRY[engine].variants()
    for variant, env in variants:
        logits = work / f"logits_{engine}_{variant}.npy"
        try:
            results[variant] = run_engine(engine, model, inputs_file, warmup, repeats, threads, variant, env,
                                          logits)
            results[variant]["logits_file"] = logits
            log(f"bench: {engine} ({variant}): median {results[variant]['median_ms']} ms, "
                f"peak RSS {results[variant]['peak_rss_mb']} MB")
        except StageError as exc:
            errors[variant] = str(exc)
            log(f"bench: {exc}")
    if not results:
        return {"error": " | ".join(errors.values())}
    best = min(results, key=lambda v: results[v]["median_ms"])
    out = dict(results[best])
    out["variant"] = best
    out["variant_env"] = dict(variants)[best]
    out["variants_median_ms"] = {v: r["median_ms"] for v, r in results.items()}
    if errors:
        out["variant_errors"] = errors
    return out


def _program_vocab_size(model_dir: Path):
    """The word-embedding rows of an inference program (its first lookup table), or None."""
    from ..runtimes.host import static_program

    with static_program(model_dir) as (program, _, _, _):
        block = program.global_block()
        for op in block.ops:
            if op.type in ("lookup_table_v2", "lookup_table") and "input_ids" in op.input("Ids"):
                return int(block.var(op.input("W")[0]).shape[0])
    return None


def bench_side_by_side(model, batch_size: int = 1, seq_len: int = 128, warmup: int = 5, repeats: int = 30,
                       threads: int = 1, engines=None, work_dir=None, measure_peak: bool = False,
                       log=None) -> dict:
    """Time ``model`` (inference model folder or .nb) on each engine; the result dict (see module doc).

    ``work_dir`` keeps the converted .nb, the .onnx and the logits (reused while the model's
    files are unchanged); by default a temporary folder, removed afterwards. ``measure_peak``
    compiles and runs an FMA loop and an sgemm to measure the CPU's fp32 peak; without it the
    peak is derived from what the CPU reports (no "% of peak" where that is unknown).
    """
    from .cpu_fp32_peak import cpu_peak
    from ..models.flops import encoder_flops, program_matmul_flops

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    _check_numbers(batch_size, seq_len, warmup, repeats, threads)
    kind, model_dir, nb, folder = _resolve_model(model)
    engines, skipped = _choose_engines(engines, kind)
    if nb is not None:
        from ..device.lite_runtime import check_nb_loads

        try:
            check_nb_loads(nb)
        except PredictorError as exc:
            raise ModelFileError(str(exc)) from None
    try:
        id_dtype = read_id_dtype(folder)
    except PredictorError as exc:
        raise ModelFileError(str(exc)) from None
    meta = _read_meta(folder)
    config = (meta or {}).get("model_config") or {}
    max_positions = config.get("max_position_embeddings")
    if max_positions and seq_len > int(max_positions):
        raise ConfigError(f"--seq-len {seq_len} is longer than the model's {max_positions} position embeddings. "
                          f"Use --seq-len {max_positions} or less.")
    vocab_size = config.get("vocab_size") or (_program_vocab_size(model_dir) if model_dir else None)

    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="ppliteformer-bench-") if own_work else work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs = synthetic_inputs(batch_size, seq_len, vocab_size or 100, seed=SEED, id_dtype=id_dtype)
        inputs_file = work / "inputs.npz"
        np.savez(inputs_file, **inputs)

        if meta and meta.get("model_config"):
            flops, flops_source = encoder_flops(meta, batch_size, seq_len), "meta"
        elif model_dir is not None:
            flops, flops_source = program_matmul_flops(model_dir, inputs)["flops"], "program"
        else:
            flops, flops_source = None, f"unknown: no {META_FILE} next to the .nb"

        model_bytes = {"inference_model": inference_model_bytes(model_dir) if model_dir else None,
                       "nb_x86": nb.stat().st_size if nb else None}
        targets, results = {}, {}
        for engine in engines:
            try:
                targets[engine] = ENGINE_REGISTRY[engine].prepare(model_dir, nb, work, log)
            except StageError as exc:
                results[engine] = {"error": str(exc)}
        if "paddle_lite" in targets:
            model_bytes["nb_x86"] = targets["paddle_lite"].stat().st_size
        if "onnxruntime" in targets:
            model_bytes["onnx"] = targets["onnxruntime"].stat().st_size

        for engine in engines:
            if engine in targets:
                results[engine] = _bench_engine(engine, targets[engine], inputs_file, work, warmup, repeats,
                                                threads, log)
            if engine == "paddle_lite" and "paddle_lite" in targets:
                rewrites = targets["paddle_lite"].parent / REWRITES_FILE
                results[engine]["x86_rewrites"] = json.loads(rewrites.read_text()) if rewrites.is_file() else None
            if flops and "median_ms" in results[engine]:
                results[engine]["gflops_achieved"] = round(flops / (results[engine]["median_ms"] * 1e-3) / 1e9, 3)

        logits = {e: np.load(r.pop("logits_file")) for e, r in results.items() if "logits_file" in r}
        diffs = {}
        names = [e for e in ENGINES if e in logits]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                diffs[f"{a}_vs_{b}"] = float(np.abs(logits[a].astype("float64") - logits[b]).max())
        agree = all(d <= LOGITS_TOLERANCE for d in diffs.values())
        if not agree:
            log(f"bench: WARNING: the engines' logits differ by more than {LOGITS_TOLERANCE}: {diffs}")

        peak = cpu_peak(measure=measure_peak)
        for r in results.values():
            if r.get("gflops_achieved") and peak["gflops_peak_fp32_1core"]:
                r["percent_of_peak"] = round(100 * r["gflops_achieved"] / peak["gflops_peak_fp32_1core"], 1)
        lite = results.get("paddle_lite", {})
        return {
            "model": str(model), "model_kind": kind, "batch_size": batch_size, "seq_len": seq_len,
            "threads": threads, "warmup": warmup, "repeats": repeats,
            "inputs": {"seed": SEED, "vocab_size": vocab_size, "padding": "none (full length)"},
            "flops": flops, "flops_source": flops_source, "model_bytes": model_bytes,
            "engines": results, "engines_skipped": skipped,
            "gflops_achieved_lite": lite.get("gflops_achieved"),
            "gflops_peak_fp32_1core": peak["gflops_peak_fp32_1core"],
            "gflops_fma_1core_measured": peak["gflops_fma_1core_measured"],
            "gflops_peak_fp32_1core_derived": peak["gflops_peak_fp32_1core_derived"],
            "gflops_sgemm_1thread_measured": peak["gflops_sgemm_1thread_measured"],
            "peak_derivation": peak["peak_derivation"], "cpu": peak["cpu"],
            "logits_max_abs_diff": diffs, "logits_tolerance": LOGITS_TOLERANCE, "logits_agree": agree,
            "notes": ("Each engine ran in a child process of its own; peak_rss_mb is that process's ru_maxrss "
                      "after the runs (Python, numpy and the engine included). Paddle Lite's x86 Python API "
                      "has no thread setting: its MKL runs 1 thread whatever --threads says."),
        }
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def format_table(result: dict) -> str:
    """A few aligned lines: one per engine with its latencies, memory and GFLOP/s."""
    head = f"{'engine':<17} {'config':<17} {'thr':>3} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} " \
           f"{'peak MB':>8} {'GFLOP/s':>8}"
    lines = [head, "-" * len(head)]
    for engine, r in result["engines"].items():
        if "error" in r:
            lines.append(f"{engine:<17} error: {r['error'][:200]}")
            continue
        gflops = r.get("gflops_achieved")
        lines.append(f"{engine:<17} {r['variant']:<17} {r['threads']:>3} {r['median_ms']:>10.3f} {r['p90_ms']:>9.3f} "
                     f"{r['min_ms']:>9.3f} {r['peak_rss_mb']:>8.1f} {gflops if gflops is not None else '-':>8}")
    for engine, why in result.get("engines_skipped", {}).items():
        lines.append(f"{engine:<17} skipped: {why}")
    flops = result["flops"]
    lines.append(f"FLOPs per forward: {flops:,}" if flops else "FLOPs per forward: unknown")
    if result["gflops_fma_1core_measured"]:
        lines.append(f"fp32 peak, 1 core: {result['gflops_peak_fp32_1core']} GFLOP/s (measured FMA loop "
                     f"{result['gflops_fma_1core_measured']}, derived from the reported clock "
                     f"{result['gflops_peak_fp32_1core_derived']}; single-thread sgemm "
                     f"{result['gflops_sgemm_1thread_measured']})")
    elif result["gflops_peak_fp32_1core"]:
        lines.append(f"fp32 peak, 1 core: {result['gflops_peak_fp32_1core']} GFLOP/s, derived from the reported "
                     "clock (--peak measures it with a compiled FMA loop and an sgemm)")
    else:
        lines.append("fp32 peak: unknown (no clock in /proc/cpuinfo); --peak measures it")
    if result["logits_max_abs_diff"]:
        worst = max(result["logits_max_abs_diff"].values())
        lines.append(f"logits max abs diff: {worst:.2e} "
                     f"({'agree' if result['logits_agree'] else 'DISAGREE'}, tolerance {result['logits_tolerance']})")
    return "\n".join(lines)
