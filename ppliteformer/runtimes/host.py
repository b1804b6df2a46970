"""The runtimes a model is evaluated and timed on, behind one interface.

Every runtime has ``id_dtype`` and ``run(inputs) -> list`` of every output array in the model's
order, where ``inputs`` are the four named arrays of ``device.predictor.batch_arrays``:
`PaddleInferenceModel` and `DygraphModel` here, the device predictor's `LiteModel` (the
``paddlelite`` package) and `ShimLiteModel` (Lite's C++ API through ctypes), and
``arm.emulator.ArmKernelsModel`` (Lite's ARM kernels under qemu, which adds ``run_many``: one
process for many batches); ``ppliteformer bench`` (bench/engines.py) loads the same classes, and
ONNX Runtime's session there returns the same list. ``outputs_over`` runs any of them over a split.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..layout import MODEL_FILE, PARAMS_FILE
from ..device.lite_runtime import INPUT_NAMES, LiteModel, batch_arrays, check_feed_dtypes, item_output
from ..device.model_files import PredictorError, read_id_dtype



def child_env(**extra) -> dict:
    """This process's environment plus ``extra``, with this ppliteformer first on PYTHONPATH, for
    ``python -m ppliteformer.<module>`` children (works from a source checkout too)."""
    env = dict(os.environ, **extra)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


@contextlib.contextmanager
def _native_stderr_held_back(hold: bool):
    """Hold back what C++ code writes to stderr (oneDNN's int8 passes print ~30 lines of
    '--- quantized 0 conv2d ops' each time a predictor is made); shown if creation fails."""
    if not hold:
        yield
        return
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def static_program(model_dir, model_filename: str = MODEL_FILE, params_filename: str = PARAMS_FILE):
    """(program, feed names, fetch vars, executor) of an inference model folder, in static mode
    with a scope of its own (``paddle.static.global_scope()`` inside); dygraph mode is restored on the way out."""
    import paddle

    paddle.enable_static()
    try:
        with paddle.static.scope_guard(paddle.static.Scope()):
            exe = paddle.static.Executor(paddle.CPUPlace())
            program, feeds, fetches = paddle.static.load_inference_model(
                str(model_dir), exe, model_filename=model_filename, params_filename=params_filename)
            yield program, feeds, fetches, exe
    finally:
        paddle.disable_static()


def inference_model_bytes(model_dir) -> int:
    return sum((Path(model_dir) / name).stat().st_size for name in (MODEL_FILE, PARAMS_FILE))


class PaddleInferenceModel:
    """A static inference model (model.pdmodel + model.pdiparams) on the CPU."""

    def __init__(self, model_dir, threads: int | None = None, onednn_int8: bool = False, onednn: bool = False):
        """``onednn_int8``: run an int8 (quantize/dequantize) program with oneDNN's int8 kernels,
        the real int8 runtime on x86 here; otherwise quantize/dequantize ops are computed in float.
        ``onednn``: oneDNN's float kernels (what `ppliteformer bench` calls the mkldnn variant)."""
        import paddle.inference as pi

        model_dir = Path(model_dir)
        for name in (MODEL_FILE, PARAMS_FILE):
            if not (model_dir / name).is_file():
                raise ModelFileError(f"{model_dir} is not an exported inference model: {name} is missing. "
                                     "Point at the 'export' folder of a ppliteformer work directory.")
        config = pi.Config(str(model_dir / MODEL_FILE), str(model_dir / PARAMS_FILE))
        config.disable_gpu()
        config.disable_glog_info()
        config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
        if onednn or onednn_int8:
            config.enable_mkldnn()
        if onednn_int8:
            config.enable_mkldnn_int8()
        with _native_stderr_held_back(onednn_int8):
            self.predictor = pi.create_predictor(config)
        self.model_dir, self.id_dtype = model_dir, read_id_dtype(model_dir)

    def run(self, inputs: dict) -> list:
        check_feed_dtypes(inputs, self.id_dtype, self.model_dir)
        for name in INPUT_NAMES:
            handle = self.predictor.get_input_handle(name)
            handle.reshape(inputs[name].shape)
            handle.copy_from_cpu(np.ascontiguousarray(inputs[name]))
        self.predictor.run()
        return [self.predictor.get_output_handle(name).copy_to_cpu() for name in self.predictor.get_output_names()]


def open_lite(nb_path, threads: int = 1) -> LiteModel:
    if not Path(nb_path).is_file():
        raise ModelFileError(f"{nb_path}: no such .nb file. Run the convert stage first.")
    try:
        return LiteModel(nb_path, threads)
    except PredictorError as exc:
        raise ModelFileError(str(exc)) from None


def outputs_over(model, ids_list: list, pad_id: int, batch_size: int) -> list:
    """Run ``model`` over token-id lists, batched in length order; each item's output, in input order.

    An item's output is an array for a model with one output and a tuple of arrays (in the model's
    order) for a model with several (intent and slots). Batches are padded to their longest member only,
    so batch 1 runs each text unpadded; an output with a token axis (a token task's [batch, tokens,
    tags]) is cut to the item's own length. A runtime with ``run_many`` gets every batch in one call.
    """
    order = np.argsort([len(ids) for ids in ids_list], kind="stable")
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    feeds = [batch_arrays([ids_list[i] for i in rows], pad_id, id_dtype=model.id_dtype) for rows in batches]
    run_many = getattr(model, "run_many", None)
    results = run_many(feeds) if run_many else [model.run(batch) for batch in feeds]
    out = [None] * len(ids_list)
    for rows, outputs in zip(batches, results):
        for position, row in enumerate(rows):
            out[row] = item_output(outputs, position, len(ids_list[row]))
    return out


def logits_over(model, ids_list: list, pad_id: int, batch_size: int) -> np.ndarray:
    """``outputs_over`` of a classifier, as one [items, classes] array."""
    return padded_stack(outputs_over(model, ids_list, pad_id, batch_size))


def padded_stack(outputs: list) -> np.ndarray:
    """Per-item outputs as one array: [items, classes], or [items, longest, tags] with zeros past each
    item's own length."""
    if not outputs or np.ndim(outputs[0]) == 1:
        return np.stack(outputs).astype("float32") if outputs else np.zeros((0, 0), dtype="float32")
    out = np.zeros((len(outputs), max(len(o) for o in outputs), outputs[0].shape[-1]), dtype="float32")
    for row, output in enumerate(outputs):
        out[row, :len(output)] = output
    return out


class DygraphModel:
    """A Paddle dygraph model in eval mode behind the same ``run(inputs)`` interface."""

    id_dtype = "int64"  # what a dygraph embedding takes from the training loop

    def __init__(self, model):
        self.model = model

    def run(self, inputs: dict) -> list:
        import paddle

        self.model.eval()
        with paddle.no_grad():
            outputs = self.model(**{k: paddle.to_tensor(v) for k, v in inputs.items()})
        return [o.numpy() for o in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]
