"""Stage `arm_evaluate`: an artifact's arm `.nb` on Paddle Lite's ARM kernels, under qemu-aarch64.

Two results, both labelled as coming from emulated ARM kernels (not from a device, and not a time):
- accuracy and parity on the test split: every text for the final artifact, as many as
  ``arm.time_budget_s`` allows (at least ``arm.min_texts``) for the others. The reference is
  Paddle Inference on the same program: float for an fp32 artifact (logits within
  ``evaluate.logits_atol``, labels on ``evaluate.min_label_agreement``), the simulated int8
  program for an int8 one (labels on ``arm.int8_min_label_agreement``; the largest logit
  difference is reported). A failed check fails the run.
- aarch64 instructions per inference at batch 1, the bench sequence length, 1 thread.
"""
from __future__ import annotations

import logging
import time

from ...arm.emulator import ArmEmulator, ArmKernelsModel
from ...arm.toolchain import ArmToolchain
from ...bench.latency import synthetic_inputs
from ...errors import StageError
from ...layout import DATA_STAGE, NB_FILE
from ...models.modeling import load_tokenizer
from ..runner import Stage
from ...runtimes.host import PaddleInferenceModel, outputs_over
from ...device.model_files import read_id_dtype
from ...tasks import get_task, stage_config

log = logging.getLogger(__name__)

RUNTIME = "paddle_lite_arm_kernels_qemu"


def _outputs_within_budget(model: ArmKernelsModel, ids: list, pad_id: int, cfg) -> list:
    """Outputs for the first texts: ``min_texts`` of them, then as many more as the rest of the
    time budget allows at the rate the first ones ran."""
    first = min(cfg.min_texts, len(ids))
    start = time.monotonic()
    outputs = outputs_over(model, ids[:first], pad_id, batch_size=1)
    per_text = (time.monotonic() - start) / first
    more = min(len(ids) - first, int((cfg.time_budget_s - per_text * first) / per_text))
    return outputs + (outputs_over(model, ids[first:first + more], pad_id, batch_size=1) if more > 0 else [])


def _check(metrics: dict, strategy, int8: bool, label: str) -> None:
    if int8:
        ok = metrics["label_agreement"] >= strategy.arm.int8_min_label_agreement
        rule = f"labels agree on at least {strategy.arm.int8_min_label_agreement:.2%}"
    else:
        ok = (metrics["max_abs_logit_diff"] <= strategy.evaluate.logits_atol and
              metrics["label_agreement"] >= strategy.evaluate.min_label_agreement)
        rule = (f"logits within {strategy.evaluate.logits_atol:.0e} and labels agree on at least "
                f"{strategy.evaluate.min_label_agreement:.2%}")
    if not ok:
        raise StageError(
            f"{label}: Paddle Lite's ARM kernels and the {'simulated int8 ' if int8 else ''}program on Paddle "
            f"Inference disagree on {metrics['texts']} test texts: largest logit difference "
            f"{metrics['max_abs_logit_diff']:.2e}, labels agree on {metrics['label_agreement']:.2%} (required: "
            f"{rule}). The arm .nb does not compute what the model does; do not deploy it.")


def evaluate_on_arm(toolchain: ArmToolchain, model_dir, arm_nb, splits, strategy, int8: bool, final: bool,
                    label: str) -> dict:
    """The task's metric of the arm .nb on the ARM kernels, its parity with Paddle Inference, its instructions."""
    cfg = strategy.arm
    task = get_task(strategy.task)
    emulator = ArmEmulator(toolchain, cfg.cpu)
    tokenizer = load_tokenizer(str(model_dir))
    ids, targets = task.encode(tokenizer, splits.test, strategy.data.max_seq_len, splits.labels)
    id_dtype = read_id_dtype(model_dir)
    model = ArmKernelsModel(emulator, arm_nb, id_dtype)
    if final:
        arm = outputs_over(model, ids[:cfg.final_texts or len(ids)], tokenizer.pad_token_id, batch_size=1)
    else:
        arm = _outputs_within_budget(model, ids, tokenizer.pad_token_id, cfg)
    count = len(arm)
    reference = outputs_over(PaddleInferenceModel(model_dir), ids[:count], tokenizer.pad_token_id, batch_size=32)
    arm_scores = task.score(arm, targets[:count], splits.labels)
    metrics = {"runtime": RUNTIME, "cpu_identity": emulator.cpu, "texts": count, "test_texts": len(ids),
               "whole_test_split": count == len(ids),
               "reference": "paddle_inference_int8_simulated" if int8 else "paddle_inference",
               "accuracy": arm_scores[task.metric], "task_metrics": arm_scores,
               "accuracy_reference_same_texts": task.score(reference, targets[:count], splits.labels)[task.metric],
               **task.compare(reference, arm)}
    _check(metrics, strategy, int8, label)
    bench_feeds = synthetic_inputs(1, strategy.bench.seq_len, len(tokenizer), id_dtype=id_dtype)  # as Lite x86 is timed
    metrics["instructions"] = emulator.instructions(arm_nb, bench_feeds, cfg.count_runs)
    metrics["instructions"]["seq_len"] = strategy.bench.seq_len
    log.info(f"{label}: ARM kernels under qemu ({emulator.cpu} CPU identity): {task.metric} {metrics['accuracy']:.4f} on "
          f"{count} of {len(ids)} test texts; vs {metrics['reference']} largest logit difference "
          f"{metrics['max_abs_logit_diff']:.1e}, labels agree on {metrics['label_agreement']:.2%}; "
          f"{metrics['instructions']['instructions_per_inference'] / 1e6:.2f} M aarch64 instructions per inference "
          f"(batch 1, seq {strategy.bench.seq_len}, 1 thread; an instruction count, not a time)")
    return metrics


def stage(strategy, toolchain: ArmToolchain, model: str, converted: str, name: str, int8: bool,
          final: bool) -> Stage:
    """Run the arm `.nb` made by stage ``converted`` from the inference model of stage ``model``."""
    def run(ctx):
        return evaluate_on_arm(toolchain, ctx.input(model), ctx.input(converted) / "arm" / NB_FILE,
                               get_task(strategy.task).read_splits(ctx.input(DATA_STAGE)), strategy, int8, final, name)
    config = {"arm": strategy.arm, "evaluate": strategy.evaluate, "seq_len": strategy.bench.seq_len,
              "final": final, "native_build": toolchain.build_dir.name}
    return Stage(name, run, stage_config(strategy, config), inputs=(DATA_STAGE, model, converted))
