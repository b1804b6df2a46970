"""Paddle Lite opt: an inference model folder -> `.nb` for arm, arm_fp16 or x86.

arm_fp16 is opt's ``--enable_fp16``: the kernels that Lite 2.13 has in half precision (fc, matmul,
softmax, elementwise ...) run in fp16 on an ARMv8.2-A core with FP16 arithmetic, the rest in fp32 with
casts between; the weights stay fp32 in the file. Its meta says so (``precision``, ``min_cpu``), and
the predictor refuses such a `.nb` on a core without FP16 instead of dying of SIGILL.

opt runs as a child process: a Lite fatal error aborts the process that hits it, and
this way it only ends opt, whose output becomes a clear error. For x86, opt converts a copy
rewritten by ``ppliteformer.runtimes.x86_rewrites`` (in a child process too, so a caller that does
not use paddle need not import it); the counts are kept in ``x86/x86_rewrites.json``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import ModelFileError, StageError
from ..layout import META_FILE, MODEL_FILE, NB_FILE, PARAMS_FILE, VOCAB_FILE
from .host import child_env

TARGETS = ("arm", "x86", "arm_fp16")
FP16_MIN_CPU = "ARMv8.2-A with FP16 arithmetic (cpuinfo features fphp and asimdhp: Cortex-A55, A75, A76 and later)"
OPT_TIMEOUT_S = 900
REWRITES_FILE = "x86_rewrites.json"


def opt_executable() -> str:
    beside_python = Path(sys.executable).parent / "paddle_lite_opt"
    found = str(beside_python) if beside_python.is_file() else shutil.which("paddle_lite_opt")
    if not found:
        raise StageError("paddle_lite_opt was not found. It comes with the paddlelite package: run "
                         "'bash scripts/setup.sh' and use .venv/bin/ppliteformer.")
    return found


def _last_lines(proc, count: int) -> str:
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-count:])


def rewrite_for_x86(model_dir: Path, out_dir: Path) -> dict:
    """``x86_rewrites.rewrite_for_x86`` in a child process; {rewrite: ops rewritten}."""
    command = [sys.executable, "-m", "ppliteformer.runtimes.x86_rewrites", str(model_dir), str(out_dir)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=OPT_TIMEOUT_S,
                              env=child_env(GLOG_minloglevel="2"))
    except subprocess.TimeoutExpired:
        raise StageError(f"Rewriting {model_dir} for x86 took over {OPT_TIMEOUT_S} s.") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise StageError(f"Rewriting {model_dir} for x86 failed (exit code {proc.returncode}). Its last lines:\n"
                         f"{_last_lines(proc, 8)}")
    return json.loads(lines[-1])


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
    if target != "x86":
        return _opt(model_dir, out_dir, target, model_dir)
    with tempfile.TemporaryDirectory(prefix="ppliteformer-x86-") as tmp:
        rewrites = rewrite_for_x86(model_dir, Path(tmp))
        nb = _opt(Path(tmp), out_dir, target, model_dir)
    (out_dir / REWRITES_FILE).write_text(json.dumps(rewrites))
    return nb


def _opt(model_dir: Path, out_dir: Path, target: str, shown: Path) -> Path:
    """opt on ``model_dir`` (``shown`` is the folder named in errors: the user's, not a temporary copy)."""
    fp16 = target == "arm_fp16"
    command = [sys.executable, opt_executable(), f"--model_file={model_dir / MODEL_FILE}",
               f"--param_file={model_dir / PARAMS_FILE}", f"--optimize_out={out_dir / 'model'}",
               "--optimize_out_type=naive_buffer", f"--valid_targets={'arm' if fp16 else target}"]
    if fp16:
        command.append("--enable_fp16=true")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=OPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise StageError(f"Paddle Lite opt did not finish converting {shown} for {target} within "
                         f"{OPT_TIMEOUT_S} s.") from None
    nb = out_dir / NB_FILE
    if proc.returncode != 0 or not nb.is_file():
        raise StageError(f"Paddle Lite opt failed to convert {shown} for {target} (exit code "
                         f"{proc.returncode}). Its last lines:\n{_last_lines(proc, 8)}\nAn op missing for the target "
                         "means Lite 2.13 cannot run this model there.")
    if (model_dir / VOCAB_FILE).is_file():
        shutil.copy(model_dir / VOCAB_FILE, out_dir / VOCAB_FILE)
    if (model_dir / META_FILE).is_file():  # with the target the .nb runs on, which the device scripts check
        meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        meta["target"] = "arm" if fp16 else target
        if fp16:
            meta.update(precision="fp16", min_cpu=FP16_MIN_CPU)
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return nb
