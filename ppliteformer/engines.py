"""Side-by-side benchmark of one model on Paddle Lite (x86), Paddle Inference and ONNX Runtime.

``bench_side_by_side`` times the same synthetic inputs on each engine, every engine (and
every configuration of it) in a child process of its own (``ppliteformer.bench_child``), so
each peak memory is that engine's alone and a Paddle Lite abort cannot end the caller.

Given an inference model folder it converts an x86 `.nb` for Lite (``convert_model``: the
x86 rewrites, then Paddle Lite opt) and an ONNX model for ONNX Runtime (paddle2onnx, opset
13), both in child processes, and runs all three; given a `.nb` only Lite can run. Engine
configurations tried, the fastest reported:

* paddle_lite: ``default``, with ``device.predictor.mkl_avx2_env`` (on AMD CPUs
  MKL_DEBUG_CPU_TYPE=5: the MKL 2019.0.1 bundled with Lite runs its SSE code path on
  non-Intel CPUs unless told so); on AMD also ``mkl_auto``, MKL left to choose, to show
  what that costs. Lite's x86 Python API has no thread setting (MKL is set to 1 thread):
  threads=1.
* paddle_inference: ``native`` and ``mkldnn`` (enable_mkldnn), set_cpu_math_library_num_threads.
* onnxruntime: intra_op_num_threads=threads, inter_op 1, ORT_ENABLE_ALL.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .bench import synthetic_inputs
from .errors import ConfigError, ModelFileError, StageError
from .layout import MODEL_FILE, NB_FILE, PARAMS_FILE
from .runtimes import child_env, inference_model_bytes
from .lite_convert import REWRITES_FILE, convert_model
from .x86_rewrites import REWRITES
from .device.predictor import META_FILE, PredictorError, mkl_avx2_env

ENGINES = ("paddle_lite", "paddle_inference", "onnxruntime")
LOGITS_TOLERANCE = 1e-3
CHILD_TIMEOUT_S = 900
SEED = 0
ONNX_OPSET = 13
_MKL_AUTO = {"MKL_DEBUG_CPU_TYPE": ""}  # empty: MKL ignores it, as if unset

_ONNX_EXPORT = ("import sys, paddle2onnx\n"
                "paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], opset_version=int(sys.argv[4]), "
                "verbose=False, enable_onnx_checker=True)\n")


def engine_variants(engine: str) -> list:
    """[(variant name, extra environment)] tried for ``engine`` on this machine."""
    if engine == "paddle_lite":
        avx2 = mkl_avx2_env()
        return [("default", avx2)] + ([("mkl_auto", _MKL_AUTO)] if avx2 else [])
    if engine == "paddle_inference":
        return [("native", {}), ("mkldnn", {})]
    return [("default", {})]


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
        need_folder = [e for e in (engines or []) if e != "paddle_lite"]
        if need_folder:
            raise ConfigError(f"{', '.join(need_folder)} cannot run a .nb file: they need the inference model "
                              "folder (model.pdmodel and model.pdiparams) the .nb was converted from. Give that "
                              "folder as --model to run all three engines, or ask only for --engines paddle_lite.")
        why = "a .nb runs on Paddle Lite only; give the inference model folder to run this engine too"
        return ["paddle_lite"], {e: why for e in ENGINES if e != "paddle_lite"}
    return list(engines or ENGINES), {}


def _source_stamp(model_dir: Path) -> dict:
    files = {name: [(model_dir / name).stat().st_size, (model_dir / name).stat().st_mtime_ns]
             for name in (MODEL_FILE, PARAMS_FILE)}
    # The rewrites' names too: a .nb converted before a rewrite was added is not reused.
    return {"model_dir": str(model_dir.resolve()), "files": files, "x86_rewrites": sorted(REWRITES)}


def _reusable(target: Path, model_dir: Path) -> bool:
    """True when ``target`` was made from this very model (same path, sizes and times)."""
    stamp = target.with_name(target.name + ".source.json")
    try:
        return target.is_file() and json.loads(stamp.read_text()) == _source_stamp(model_dir)
    except (OSError, ValueError):
        return False


def _stamp(target: Path, model_dir: Path) -> None:
    target.with_name(target.name + ".source.json").write_text(json.dumps(_source_stamp(model_dir)))


def export_onnx(model_dir, out_file) -> Path:
    """paddle2onnx (opset 13) of ``model_dir`` into ``out_file``, in a child process."""
    model_dir, out_file = Path(model_dir), Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    partial = out_file.with_name(out_file.name + ".partial")
    command = [sys.executable, "-c", _ONNX_EXPORT, str(model_dir / MODEL_FILE), str(model_dir / PARAMS_FILE),
               str(partial), str(ONNX_OPSET)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise StageError(f"paddle2onnx did not finish exporting {model_dir} within {CHILD_TIMEOUT_S} s.") from None
    if proc.returncode != 0 or not partial.is_file():
        raise StageError(f"paddle2onnx could not export {model_dir} to ONNX (exit code {proc.returncode}): "
                         f"{_last_line(proc.stderr or proc.stdout)}")
    os.replace(partial, out_file)
    return out_file


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:400] if lines else "(no message)"


def run_engine(engine, model, inputs_file, warmup, repeats, threads, variant="default", env=None,
               logits_out=None) -> dict:
    """Run ``ppliteformer.bench_child`` for one engine configuration; its JSON result."""
    command = [sys.executable, "-m", "ppliteformer.bench_child", "--engine", engine, "--model", str(model),
               "--inputs", str(inputs_file), "--warmup", str(warmup), "--repeats", str(repeats),
               "--threads", str(threads), "--variant", variant]
    if logits_out:
        command += ["--logits-out", str(logits_out)]
    math_threads = "1" if engine == "paddle_lite" else str(threads)
    env = child_env(OMP_NUM_THREADS=math_threads, MKL_NUM_THREADS=math_threads, OPENBLAS_NUM_THREADS=math_threads,
                    GLOG_minloglevel="2", **(env or {}))
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise StageError(f"{engine} ({variant}) did not finish within {CHILD_TIMEOUT_S} s.") from None
    if proc.returncode != 0:
        how = f"was killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exited with {proc.returncode}"
        raise StageError(f"{engine} ({variant}) {how}: {_last_line(proc.stderr)}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise StageError(f"{engine} ({variant}) printed no result: {_last_line(proc.stderr)}")


def _bench_engine(engine, model, inputs_file, work, warmup, repeats, threads, log) -> dict:
    """All of ``engine``'s configurations; the fastest one's result, the others' medians."""
    results, errors = {}, {}
    variants = engine_variants(engine)
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
    if engine == "paddle_lite":
        out["variant_env"] = dict(variants)[best]
    out["variants_median_ms"] = {v: r["median_ms"] for v, r in results.items()}
    if errors:
        out["variant_errors"] = errors
    return out


def _program_vocab_size(model_dir: Path):
    """The word-embedding rows of an inference program (its first lookup table), or None."""
    from .runtimes import static_program

    with static_program(model_dir) as (program, _, _, _):
        block = program.global_block()
        for op in block.ops:
            if op.type in ("lookup_table_v2", "lookup_table") and "input_ids" in op.input("Ids"):
                return int(block.var(op.input("W")[0]).shape[0])
    return None


def bench_side_by_side(model, batch_size: int = 1, seq_len: int = 128, warmup: int = 5, repeats: int = 30,
                       threads: int = 1, engines=None, work_dir=None, measure_peak: bool = True,
                       log=None) -> dict:
    """Time ``model`` (inference model folder or .nb) on each engine; the result dict (see module doc).

    ``work_dir`` keeps the converted .nb, the .onnx and the logits (reused while the model's
    files are unchanged); by default a temporary folder, removed afterwards.
    """
    from .cpu_peak import cpu_peak
    from .flops import encoder_flops, program_matmul_flops

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    _check_numbers(batch_size, seq_len, warmup, repeats, threads)
    kind, model_dir, nb, folder = _resolve_model(model)
    engines, skipped = _choose_engines(engines, kind)
    if nb is not None:
        from .device.predictor import check_nb_loads

        try:
            check_nb_loads(nb)
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
        inputs = synthetic_inputs(batch_size, seq_len, vocab_size or 100, seed=SEED)
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
        if "paddle_lite" in engines:
            if nb is None:
                cached = work / "x86" / NB_FILE
                try:
                    if _reusable(cached, model_dir):
                        nb = cached
                    else:
                        log("bench: converting to an x86 .nb (Paddle Lite opt)")
                        nb = convert_model(model_dir, work / "x86", "x86")
                        _stamp(nb, model_dir)
                    model_bytes["nb_x86"] = nb.stat().st_size
                    targets["paddle_lite"] = nb
                except StageError as exc:
                    results["paddle_lite"] = {"error": str(exc)}
            else:
                targets["paddle_lite"] = nb
        if "paddle_inference" in engines:
            targets["paddle_inference"] = model_dir
        if "onnxruntime" in engines:
            onnx_file = work / "onnx" / "model.onnx"
            try:
                if not _reusable(onnx_file, model_dir):
                    log(f"bench: exporting ONNX (paddle2onnx, opset {ONNX_OPSET})")
                    export_onnx(model_dir, onnx_file)
                    _stamp(onnx_file, model_dir)
                model_bytes["onnx"] = onnx_file.stat().st_size
                targets["onnxruntime"] = onnx_file
            except StageError as exc:
                results["onnxruntime"] = {"error": str(exc)}

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
    lines.append(f"fp32 peak, 1 core: {result['gflops_peak_fp32_1core']} GFLOP/s (measured FMA loop "
                 f"{result['gflops_fma_1core_measured']}, derived from the reported clock "
                 f"{result['gflops_peak_fp32_1core_derived']}; single-thread sgemm "
                 f"{result['gflops_sgemm_1thread_measured']})")
    if result["logits_max_abs_diff"]:
        worst = max(result["logits_max_abs_diff"].values())
        lines.append(f"logits max abs diff: {worst:.2e} "
                     f"({'agree' if result['logits_agree'] else 'DISAGREE'}, tolerance {result['logits_tolerance']})")
    return "\n".join(lines)
