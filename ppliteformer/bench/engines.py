"""The engines ``ppliteformer bench`` times, one small object each, used on both sides of the
child process: the parent asks an engine which model file it runs (``prepare``) and which
configurations to try (``variants``); the child (``bench/child.py``) asks it to ``load`` that
file and gets a runner with ``run(inputs)`` -> every output (the runtimes' interface,
runtimes/host.py). A new engine is one class here.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..device.lite_runtime import mkl_avx2_env
from ..layout import MODEL_FILE, NB_FILE, PARAMS_FILE

_MKL_AUTO = {"MKL_DEBUG_CPU_TYPE": ""}  # empty: MKL ignores it, as if unset


class PaddleLite:
    """The light predictor on an x86 `.nb` (converted with the x86 rewrites when given an inference model).

    Lite's x86 Python API has no thread setting (its MKL runs 1 thread). On AMD CPUs the
    ``default`` variant sets MKL_DEBUG_CPU_TYPE=5 (the MKL 2019.0.1 bundled with Lite runs its
    SSE code on non-Intel CPUs unless told so); ``mkl_auto`` leaves MKL to choose, to show the cost.
    """
    name = "paddle_lite"
    needs_inference_model = False

    def variants(self) -> list:
        avx2 = mkl_avx2_env()
        return [("default", avx2)] + ([("mkl_auto", _MKL_AUTO)] if avx2 else [])

    def math_threads(self, threads: int) -> int:
        return 1

    def prepare(self, model_dir, nb, work: Path, log) -> Path:
        """The `.nb` to run: the one given, or an x86 conversion of ``model_dir`` kept in ``work``."""
        from ..runtimes.lite_convert import convert_model

        if nb is not None:
            return nb
        cached = work / "x86" / NB_FILE
        if not _is_current(cached, model_dir):
            log("bench: converting to an x86 .nb (Paddle Lite opt)")
            cached = convert_model(model_dir, work / "x86", "x86")
            _stamp(cached, model_dir)
        return cached

    def load(self, model: str, threads: int, variant: str):
        from ..device.lite_runtime import LiteModel

        lite = LiteModel(model, threads, probe=False)  # the bench child's own crash is reported by its parent
        return _Runner(lite.threads, lite.run)


class PaddleInference:
    """Paddle Inference on the inference model: ``native`` and ``mkldnn`` (oneDNN)."""
    name = "paddle_inference"
    needs_inference_model = True

    def variants(self) -> list:
        return [("native", {}), ("mkldnn", {})]

    def math_threads(self, threads: int) -> int:
        return threads

    def prepare(self, model_dir, nb, work: Path, log) -> Path:
        return model_dir

    def load(self, model: str, threads: int, variant: str):
        from ..runtimes.host import PaddleInferenceModel

        return _Runner(threads, PaddleInferenceModel(model, threads=threads, onednn=variant == "mkldnn").run)


class OnnxRuntime:
    """ONNX Runtime on a paddle2onnx export (opset 13): intra_op threads, inter_op 1, ORT_ENABLE_ALL."""
    name = "onnxruntime"
    needs_inference_model = True
    opset = 13

    def variants(self) -> list:
        return [("default", {})]

    def math_threads(self, threads: int) -> int:
        return threads

    def prepare(self, model_dir, nb, work: Path, log) -> Path:
        onnx_file = work / "onnx" / "model.onnx"
        if not _is_current(onnx_file, model_dir):
            log(f"bench: exporting ONNX (paddle2onnx, opset {self.opset})")
            export_onnx(model_dir, onnx_file, self.opset)
            _stamp(onnx_file, model_dir)
        return onnx_file

    def load(self, model: str, threads: int, variant: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return _Runner(threads, lambda inputs: session.run(None, {name: inputs[name] for name in names}))


_ONNX_EXPORT = ("import sys, paddle2onnx\n"
                "paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], opset_version=int(sys.argv[4]), "
                "verbose=False, enable_onnx_checker=True)\n")
CHILD_TIMEOUT_S = 900


def export_onnx(model_dir, out_file, opset: int = OnnxRuntime.opset) -> Path:
    """paddle2onnx of ``model_dir`` into ``out_file``, in a child process; the file appears whole or not at all."""
    import subprocess
    import sys

    from ..atomic import temporary_name
    from .child_process import last_line
    from ..errors import StageError

    model_dir, out_file = Path(model_dir), Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_name(out_file)
    command = [sys.executable, "-c", _ONNX_EXPORT, str(model_dir / MODEL_FILE), str(model_dir / PARAMS_FILE),
               str(partial), str(opset)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise StageError(f"paddle2onnx did not finish exporting {model_dir} within {CHILD_TIMEOUT_S} s.") from None
    if proc.returncode != 0 or not partial.is_file():
        raise StageError(f"paddle2onnx could not export {model_dir} to ONNX (exit code {proc.returncode}): "
                         f"{last_line(proc.stderr or proc.stdout)}")
    os.replace(partial, out_file)
    return out_file


def _source_stamp(model_dir: Path) -> dict:
    from ..runtimes.x86_rewrites import REWRITES

    files = {name: [(model_dir / name).stat().st_size, (model_dir / name).stat().st_mtime_ns]
             for name in (MODEL_FILE, PARAMS_FILE)}
    # The rewrites' names too: a .nb converted before a rewrite was added is not reused.
    return {"model_dir": str(Path(model_dir).resolve()), "files": files, "x86_rewrites": sorted(REWRITES)}


def _is_current(target: Path, model_dir: Path) -> bool:
    """True when ``target`` (in a kept --work-dir) was made from this very model (same path, sizes, times)."""
    import json

    stamp = target.with_name(target.name + ".source.json")
    try:
        return target.is_file() and json.loads(stamp.read_text()) == _source_stamp(model_dir)
    except (OSError, ValueError):
        return False


def _stamp(target: Path, model_dir: Path) -> None:
    import json

    target.with_name(target.name + ".source.json").write_text(json.dumps(_source_stamp(model_dir)))


class _Runner:
    """What ``load`` returns: ``run(inputs)`` -> every output, and the threads the engine really uses."""

    def __init__(self, threads: int, run):
        self.threads = threads
        self.run = run


ENGINES = {engine.name: engine for engine in (PaddleLite(), PaddleInference(), OnnxRuntime())}
