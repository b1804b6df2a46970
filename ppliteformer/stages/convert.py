"""Stage `convert`: Paddle Lite opt turns an inference model into `.nb` files per target.

opt runs as a child process: a Lite fatal error aborts the process that hits it, and
this way it only ends opt, whose output becomes a clear error.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ModelFileError, StageError
from ..pipeline import Stage
from ..runtimes import MODEL_FILE, NB_FILE, PARAMS_FILE
from ..standalone_predictor import META_FILE, VOCAB_FILE

TARGETS = ("arm", "x86")
OPT_TIMEOUT_S = 900


def opt_executable() -> str:
    beside_python = Path(sys.executable).parent / "paddle_lite_opt"
    found = str(beside_python) if beside_python.is_file() else shutil.which("paddle_lite_opt")
    if not found:
        raise StageError("paddle_lite_opt was not found. It comes with the paddlelite package: run "
                         "'bash scripts/setup.sh' and use .venv/bin/ppliteformer.")
    return found


def convert_model(model_dir, out_dir, target: str) -> Path:
    """Convert ``model_dir`` (model.pdmodel/.pdiparams + vocab + meta) to ``out_dir``/model.nb."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if target not in TARGETS:
        raise StageError(f"Unknown conversion target '{target}'. Choose one of: {', '.join(TARGETS)}.")
    for name in (MODEL_FILE, PARAMS_FILE):
        if not (model_dir / name).is_file():
            raise ModelFileError(f"{model_dir} is not an inference model folder: {name} is missing. "
                                 "Give the 'export' folder of a work directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, opt_executable(), f"--model_file={model_dir / MODEL_FILE}",
               f"--param_file={model_dir / PARAMS_FILE}", f"--optimize_out={out_dir / 'model'}",
               "--optimize_out_type=naive_buffer", f"--valid_targets={target}"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=OPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise StageError(f"Paddle Lite opt did not finish converting {model_dir} for {target} within "
                         f"{OPT_TIMEOUT_S} s.") from None
    nb = out_dir / NB_FILE
    if proc.returncode != 0 or not nb.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise StageError(f"Paddle Lite opt failed to convert {model_dir} for {target} (exit code "
                         f"{proc.returncode}). Its last lines:\n{tail}\nAn op missing for the target "
                         "means Lite 2.13 cannot run this model there.")
    for name in (VOCAB_FILE, META_FILE):
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, out_dir / name)
    return nb


def stage(targets, source: str = "export", name: str = "convert") -> Stage:
    """Convert the inference model made by stage ``source`` for each target."""
    def run(ctx):
        sizes = {}
        for target in targets:
            nb = convert_model(ctx.input(source), ctx.out_dir / target, target)
            sizes[f"nb_bytes_{target}"] = nb.stat().st_size
            print(f"{name}: {target} .nb {nb.stat().st_size / 1e6:.2f} MB", flush=True)
        return sizes
    return Stage(name, run, {"targets": list(targets)}, inputs=(source,))
