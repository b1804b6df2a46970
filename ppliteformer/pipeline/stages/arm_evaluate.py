"""Stage `arm_evaluate`: an artifact's arm `.nb` on Paddle Lite's ARM kernels, under qemu-aarch64.

Two results, both labelled as coming from emulated ARM kernels (not from a device, and not a time):
- accuracy and parity on the test split: every text for the final artifact, as many as
  ``arm.time_budget_s`` allows (at least ``arm.min_texts``) for the others. The reference is
  Paddle Inference on the same program: float for an fp32 artifact (logits within
  ``evaluate.logits_atol``, labels on ``evaluate.min_label_agreement``), the simulated int8
  program for an int8 one (labels on ``arm.int8_min_label_agreement``; the largest logit
  difference is reported), the float program for an arm_fp16 `.nb` run on the fp16 Lite build
  (logits within ``arm.fp16_logits_rtol`` of the largest logit, labels on
  ``arm.fp16_min_label_agreement``). A failed check fails the run.
- aarch64 instructions per inference at batch 1, 1 thread, at the bench sequence length and at
  the test split's median length (a phone's texts are short), each split by op type (arm/op_split.py);
  with the A55 identity, the same counts on Lite's generic kernels too (``generic_kernels``: what a
  core Lite does not recognise runs; int8 differs most, as only the A55's kernels use dotprod).
"""
from __future__ import annotations

import logging
import time

import numpy as np

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
# Each precision of an arm .nb and what its outputs are checked against
REFERENCES = {"fp32": "paddle_inference", "int8": "paddle_inference_int8_simulated", "fp16": "paddle_inference"}


def _outputs_within_budget(model: ArmKernelsModel, ids: list, pad_id: int, cfg) -> list:
    """Outputs for the first texts: ``min_texts`` of them, then as many more as the rest of the
    time budget allows at the rate the first ones ran."""
    first = min(cfg.min_texts, len(ids))
    start = time.monotonic()
    outputs = outputs_over(model, ids[:first], pad_id, batch_size=1)
    per_text = (time.monotonic() - start) / first
    more = min(len(ids) - first, int((cfg.time_budget_s - per_text * first) / per_text))
    return outputs + (outputs_over(model, ids[first:first + more], pad_id, batch_size=1) if more > 0 else [])


def _rule(metrics: dict, strategy, precision: str) -> tuple:
    """(whether the ARM outputs pass the precision's parity rule, the rule in words)."""
    arm, agreement = strategy.arm, metrics["label_agreement"]
    if precision == "int8":
        return (agreement >= arm.int8_min_label_agreement,
                f"labels agree on at least {arm.int8_min_label_agreement:.2%}")
    if precision == "fp16":
        atol = arm.fp16_logits_rtol * metrics["reference_largest_abs_logit"]
        return (metrics["max_abs_logit_diff"] <= atol and agreement >= arm.fp16_min_label_agreement,
                f"logits within {arm.fp16_logits_rtol:g} x the largest logit ({atol:.2e}) and labels agree on at "
                f"least {arm.fp16_min_label_agreement:.2%}")
    ev = strategy.evaluate
    return (metrics["max_abs_logit_diff"] <= ev.logits_atol and agreement >= ev.min_label_agreement,
            f"logits within {ev.logits_atol:.0e} and labels agree on at least {ev.min_label_agreement:.2%}")


def _check(metrics: dict, strategy, precision: str, label: str) -> None:
    ok, rule = _rule(metrics, strategy, precision)
    if not ok:
        raise StageError(
            f"{label}: Paddle Lite's ARM kernels ({precision}) and the {'simulated int8 ' if precision == 'int8' else ''}"
            f"program on Paddle Inference disagree on {metrics['texts']} test texts: largest logit difference "
            f"{metrics['max_abs_logit_diff']:.2e}, labels agree on {metrics['label_agreement']:.2%} (required: "
            f"{rule}). The arm .nb does not compute what the model does; do not deploy it.")


def _largest_abs_logit(outputs: list) -> float:
    """The largest |value| over every item's outputs (an array, or a tuple of arrays per item)."""
    return max(float(np.abs(part).max()) for item in outputs
               for part in (item if isinstance(item, tuple) else (item,)))


def median_length(ids: list) -> int:
    """The median token count of encoded texts (as the bench stage's median length)."""
    return int(np.median([len(row) for row in ids]))


def instructions_at(emulator: ArmEmulator, arm_nb, seq_len: int, vocab_size: int, id_dtype: str, runs: int) -> dict:
    """aarch64 instructions per inference of one full-length synthetic text (as Lite x86 is timed)."""
    feeds = synthetic_inputs(1, seq_len, vocab_size, id_dtype=id_dtype)
    return {**emulator.instructions(arm_nb, feeds, runs), "seq_len": seq_len}


def _counts(emulator: ArmEmulator, arm_nb, lengths: tuple, vocab_size: int, id_dtype: str, runs: int) -> dict:
    """{"instructions": at the bench length, "instructions_at_median_length": at the median} (``lengths``)."""
    counts = {seq_len: instructions_at(emulator, arm_nb, seq_len, vocab_size, id_dtype, runs)
              for seq_len in dict.fromkeys(lengths)}  # once where the two lengths are one
    return {"instructions": counts[lengths[0]], "instructions_at_median_length": counts[lengths[1]]}


def evaluate_on_arm(toolchain: ArmToolchain, model_dir, arm_nb, splits, strategy, precision: str, final: bool,
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
               "precision": precision, "reference": REFERENCES[precision],
               "accuracy": arm_scores[task.metric], "task_metrics": arm_scores,
               "accuracy_reference_same_texts": task.score(reference, targets[:count], splits.labels)[task.metric],
               "reference_largest_abs_logit": _largest_abs_logit(reference), **task.compare(reference, arm)}
    _check(metrics, strategy, precision, label)
    median = median_length(ids)
    metrics.update(_counts(emulator, arm_nb, (strategy.bench.seq_len, median), len(tokenizer), id_dtype,
                           cfg.count_runs))
    if emulator.cpu == "a55" and precision != "fp16":  # fp16 kernels exist for ARMv8.2 cores only
        metrics["generic_kernels"] = _counts(ArmEmulator(toolchain, "emulator"), arm_nb,
                                             (strategy.bench.seq_len, median), len(tokenizer), id_dtype,
                                             cfg.count_runs)
    log.info(f"{label}: ARM kernels ({precision}) under qemu ({emulator.cpu} CPU identity): {task.metric} "
             f"{metrics['accuracy']:.4f} on {count} of {len(ids)} test texts; vs {metrics['reference']} largest logit "
             f"difference {metrics['max_abs_logit_diff']:.1e}, labels agree on {metrics['label_agreement']:.2%}; "
             f"{metrics['instructions']['instructions_per_inference'] / 1e6:.2f} M aarch64 instructions per inference "
             f"at seq {strategy.bench.seq_len}, {metrics['instructions_at_median_length']['instructions_per_inference'] / 1e6:.2f} M "
             f"at the median length {median} (batch 1, 1 thread; instruction counts, not times)")
    return metrics


def stage(strategy, toolchain: ArmToolchain, model: str, converted: str, name: str, precision: str,
          final: bool) -> Stage:
    """Run the arm `.nb` (the arm_fp16 one for ``precision`` fp16) made by stage ``converted`` from the
    inference model of stage ``model``."""
    if precision not in REFERENCES:
        raise ValueError(f"precision must be one of {tuple(REFERENCES)}")
    target = "arm_fp16" if precision == "fp16" else "arm"

    def run(ctx):
        return evaluate_on_arm(toolchain, ctx.input(model), ctx.input(converted) / target / NB_FILE,
                               get_task(strategy.task).read_splits(ctx.input(DATA_STAGE)), strategy, precision, final,
                               name)
    config = {"arm": strategy.arm, "evaluate": strategy.evaluate, "seq_len": strategy.bench.seq_len,
              "final": final, "native_build": toolchain.build_dir.name, "at_median_length": True,
              "split_and_generic_kernels": True}
    if precision == "fp16":  # a work dir of before fp16 keeps its fp32 and int8 stages
        config["precision"] = precision
    return Stage(name, run, stage_config(strategy, config), inputs=(DATA_STAGE, model, converted))
