"""Stage `measure` of a search candidate: what the choice is made on, from its final model.

- the arm `.nb`'s bytes (the fp16 one for an fp16 candidate);
- its aarch64 instructions per inference on Paddle Lite's ARM kernels under qemu (batch 1, 1 thread), at
  bench.seq_len or at the dev split's median length (a cost that repeats within 0.4%, not a time);
- with ``dev``: the task's metric of its inference model on the dev split on Paddle Inference (the
  simulated int8 program for qat/ptq; for an fp16 candidate the float program, whose fp16 `.nb` is held
  to the parity rule on the ARM kernels when a chosen candidate is verified).

The stage never reads the test split: choices are made on dev (``split_metric`` also serves the
front's one test measurement).
"""
from __future__ import annotations

from ..arm.emulator import ArmEmulator
from ..device.model_files import read_id_dtype
from ..layout import DATA_STAGE, NB_FILE
from ..models.modeling import load_tokenizer
from ..pipeline.runner import Stage
from ..pipeline.stages.arm_evaluate import RUNTIME, instructions_at, median_length
from ..runtimes.host import PaddleInferenceModel, outputs_over
from ..tasks import get_task


def _split_metric(task, tokenizer, model_dir, ids, targets, labels) -> float:
    outputs = outputs_over(PaddleInferenceModel(model_dir), ids, tokenizer.pad_token_id, batch_size=32)
    return task.score(outputs, targets, labels)[task.metric]


def split_metric(model_dir, splits, split: str, strategy) -> float:
    """The task's headline metric of an inference model on one split, on Paddle Inference."""
    task = get_task(strategy.task)
    tokenizer = load_tokenizer(str(model_dir))
    ids, targets = task.encode(tokenizer, getattr(splits, split), strategy.data.max_seq_len, splits.labels)
    return _split_metric(task, tokenizer, model_dir, ids, targets, splits.labels)


def measure(model_dir, nb, splits, strategy, toolchain, at: str, dev: bool) -> dict:
    task = get_task(strategy.task)
    tokenizer = load_tokenizer(str(model_dir))
    if at == "median" or dev:  # the dev split, encoded once for its median length and its metric
        ids, targets = task.encode(tokenizer, splits.dev, strategy.data.max_seq_len, splits.labels)
    seq_len = median_length(ids) if at == "median" else strategy.bench.seq_len
    counted = instructions_at(ArmEmulator(toolchain, strategy.arm.cpu), nb, seq_len, len(tokenizer),
                              read_id_dtype(model_dir), strategy.arm.count_runs)
    metrics = {"nb_bytes": nb.stat().st_size, "instructions": counted["instructions_per_inference"],
               "seq_len": seq_len, "cpu_identity": counted["cpu_identity"], "instructions_runtime": RUNTIME}
    if dev:
        metrics["dev_metric"] = _split_metric(task, tokenizer, model_dir, ids, targets, splits.labels)
        metrics["dev_runtime"] = "paddle_inference"
    return metrics


def stage(strategy, toolchain, model: str, converted: str, fp16: bool, at: str, dev: bool) -> Stage:
    """Measure the model made by stage ``model`` and its arm (``fp16``: arm_fp16) .nb made by ``converted``."""
    target = "arm_fp16" if fp16 else "arm"

    def run(ctx):
        splits = get_task(strategy.task).read_splits(ctx.input(DATA_STAGE))
        return measure(ctx.input(model), ctx.input(converted) / target / NB_FILE, splits, strategy, toolchain, at, dev)
    config = {"target": target, "at": at, "dev": dev, "cpu": strategy.arm.cpu, "count_runs": strategy.arm.count_runs,
              "seq_len": strategy.bench.seq_len, "native_build": toolchain.build_dir.name}
    return Stage("measure", run, config, inputs=(DATA_STAGE, model, converted))
