"""report.json and the table printed at the end of a run."""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_json_atomic
from ..layout import DATA_STAGE, REPORT_FILE, TEACHER, artifact_stage_name
from ..records import ArtifactRecord, Report, StepResult
from ..steps import get_step, model_stage_name
from ..tasks import get_task

INT8_PROXY = ("paddle_inference: the int8 program (quantize/dequantize around every matmul) run by Paddle "
              "Inference, simulated in float ('accuracy') and on oneDNN's int8 kernels "
              "('accuracy_x86_int8_onednn'); Lite x86 2.13 cannot run int8 matmuls, so the arm .nb made from "
              "this program is verified through this proxy, not on an ARM device")
ARM_KERNELS = ("paddle_lite_arm_kernels_qemu: the arm .nb run by Paddle Lite's ARM kernels (v2.13-rc, aarch64) "
               "under qemu-aarch64 user-mode emulation on this x86 machine ('accuracy_arm', on 'arm_texts' test "
               "texts); emulation checks numerics and counts instructions, it is not a device and times nothing")
ARM_FP16_KERNELS = ("paddle_lite_arm_fp16_kernels_qemu: the arm_fp16 .nb (opt --enable_fp16) run by the same Paddle "
                    "Lite built with ARMv8.2 FP16 kernels, under qemu-aarch64 -cpu max (a core with FP16 arithmetic; "
                    "'accuracy_arm_fp16', on 'arm_fp16_texts' test texts)")


# The artifact's stage kind -> {record field: the metric that stage reported}
_METRICS = {
    "evaluate": {"accuracy": "accuracy", "task_metrics": "task_metrics", "accuracy_x86_lite": "accuracy_x86_lite",
                 "max_abs_logit_diff_lite_vs_inference": "max_abs_logit_diff",
                 "label_agreement_lite_vs_inference": "label_agreement",
                 "accuracy_x86_int8_onednn": "accuracy_x86_int8_onednn"},
    "convert": {"nb_bytes_arm": "nb_bytes_arm", "nb_bytes_x86": "nb_bytes_x86", "nb_bytes_arm_fp16": "nb_bytes_arm_fp16"},
    "bench": {"peak_memory_mb": "peak_rss_mb"},  # of the process timing the x86 .nb
    "arm_evaluate": {"accuracy_arm": "accuracy", "arm_texts": "texts", "arm_whole_test_split": "whole_test_split",
                     "arm_reference": "reference", "max_abs_logit_diff_arm_vs_reference": "max_abs_logit_diff",
                     "label_agreement_arm_vs_reference": "label_agreement", "arm_cpu_identity": "cpu_identity",
                     "arm_instructions": "instructions"},
    "arm_fp16_evaluate": {"accuracy_arm_fp16": "accuracy", "accuracy_arm_fp16_reference": "accuracy_reference_same_texts",
                          "arm_fp16_texts": "texts", "max_abs_logit_diff_arm_fp16_vs_reference": "max_abs_logit_diff",
                          "label_agreement_arm_fp16_vs_reference": "label_agreement",
                          "arm_fp16_instructions": "instructions"},
}


def _artifact(name: str, records: dict, parameters) -> ArtifactRecord:
    def metrics(kind):
        return records.get(artifact_stage_name(name, kind), {}).get("metrics", {})

    int8 = name != TEACHER and get_step(name).int8
    latency, arm, fp16 = metrics("bench"), metrics("arm_evaluate"), metrics("arm_fp16_evaluate")
    record = ArtifactRecord(name=name, int8=int8, parameters=parameters,
                            **{field: metrics(kind).get(metric)
                               for kind, fields in _METRICS.items() for field, metric in fields.items()})
    record.inference_model_bytes = records.get(model_stage_name(name), {}).get("metrics", {}).get("model_bytes")
    record.arm_instructions_per_inference = _per_inference(arm.get("instructions"))
    record.arm_instructions_at_median_length = _per_inference(arm.get("instructions_at_median_length"))
    record.arm_fp16_instructions_per_inference = _per_inference(fp16.get("instructions"))
    record.arm_fp16_instructions_at_median_length = _per_inference(fp16.get("instructions_at_median_length"))
    record.arm_split, record.arm_fp16_split = _split(arm), _split(fp16)
    generic = arm.get("generic_kernels") or {}
    record.arm_generic_instructions_per_inference = _per_inference(generic.get("instructions"))
    record.arm_generic_instructions_at_median_length = _per_inference(generic.get("instructions_at_median_length"))
    record.arm_fp16_instructions_over_fp32 = _ratio(record.arm_fp16_instructions_per_inference,
                                                    record.arm_instructions_per_inference, 3)
    if int8:  # Paddle Inference on oneDNN's int8 kernels: Lite x86 cannot run int8 matmuls
        record.latency_ms_x86_int8, record.latency_x86_int8 = latency.get("median_ms"), latency
    else:
        record.latency_ms_x86_lite, record.latency_x86_lite = latency.get("median_ms"), latency or None
    at_median = latency.get("at_median_length") or {}
    record.latency_ms_at_median_length = at_median.get("median_ms")
    record.median_length_tokens = at_median.get("seq_len") or (arm.get("instructions_at_median_length") or {}).get("seq_len")
    record.accuracy_verified_by = "; ".join(
        ([ARM_KERNELS] if arm else []) + ([ARM_FP16_KERNELS] if fp16 else []) +
        [INT8_PROXY if int8 else "paddle_inference and paddle_lite_x86 (same logits within evaluate.logits_atol)"])
    return record


def _per_inference(instructions) -> float | None:
    return (instructions or {}).get("instructions_per_inference")


def _split(arm_metrics: dict) -> dict | None:
    """The op-type split at the bench and the median length; None where the counts have none."""
    split = {length: (arm_metrics.get(key) or {}).get("split")
             for length, key in (("bench", "instructions"), ("median", "instructions_at_median_length"))}
    return split if all(split.values()) else None


def _step_result(name: str, records: dict) -> StepResult:
    return StepResult.from_json(records.get(name, {}).get("metrics") or {})


def build_report(strategy, records: dict) -> Report:
    """One record per artifact (the teacher, then each chain step), from the finished stages' metrics."""
    task = get_task(strategy.task)
    names = [TEACHER, *strategy.chain]
    steps = {n: _step_result(n, records) for n in names if n in records}
    float_names = [n for n in names if n == TEACHER or get_step(n).all_float and not get_step(n).int8]
    artifacts = [_artifact(n, records, steps[n].parameters if n in steps else None) for n in names]
    teacher = artifacts[0]
    for entry in artifacts:
        entry.times_smaller_arm_vs_teacher = _ratio(teacher.nb_bytes_arm, entry.nb_bytes_arm)
        entry.speedup_x86_lite_vs_teacher = _ratio(teacher.latency_ms_x86_lite, entry.latency_ms_x86_lite)
        entry.arm_instructions_over_teacher = _ratio(entry.arm_instructions_per_inference,
                                                        teacher.arm_instructions_per_inference, 3)
        entry.accuracy_change_vs_teacher = (None if None in (entry.accuracy, teacher.accuracy)
                                            else round(entry.accuracy - teacher.accuracy, 4))
    for source, entry in zip(artifacts, artifacts[1:]):
        entry.arm_instructions_over_source = _ratio(entry.arm_instructions_per_inference,
                                                       source.arm_instructions_per_inference, 3)
        _set_control(entry, source, records)
    steps.update({f"{n}_control": _step_result(f"{n}_control", records) for n in strategy.chain
                  if f"{n}_control" in records})
    final, final_reason, final_precision = _final_choice(artifacts, strategy.arm.fp16_max_drop)
    return Report(
        strategy=strategy.name,
        chain=list(strategy.chain),
        teacher=TEACHER,
        final=final,
        final_reason=final_reason,
        final_fp32=float_names[-1],
        data=records.get(DATA_STAGE, {}).get("metrics", {}),
        steps=steps,
        stage_seconds={name: r.get("seconds") for name, r in records.items()},
        total_seconds=round(sum(r.get("seconds") or 0 for r in records.values()), 1),
        artifacts=artifacts,
        baselines=records.get("baselines", {}).get("metrics", {}),
        task=task.name, metric=task.metric, metric_label=task.metric_label, final_precision=final_precision,
    )


LABELS_ONLY_CONTROL = ("the same architecture trained on the labels alone with the step's budget "
                       "(test accuracy in Paddle dygraph)")


def _set_control(entry: ArtifactRecord, source: ArtifactRecord, records: dict) -> None:
    """What the step bought: its accuracy against a control. A distilled or pruned artifact (with
    ``control: true``) against its architecture trained on the labels alone; a quantized one
    against the fp32 model it was quantized from."""
    step = get_step(entry.name)
    control = records.get(f"{entry.name}_control", {}).get("metrics")
    if control:
        entry.control, entry.control_accuracy = LABELS_ONLY_CONTROL, control["details"]["test_accuracy"]
    elif step.int8 or not step.all_float:
        entry.control, entry.control_accuracy = f"{source.name}, the fp32 model it was quantized from", source.accuracy
    if None not in (entry.accuracy, entry.control_accuracy):
        entry.gain_over_control = round(entry.accuracy - entry.control_accuracy, 4)


def _final_choice(artifacts: list, fp16_max_drop: float) -> tuple:
    """(final artifact, why, its precision): the last one, unless it is int8 and its ARM kernels take at least
    as many instructions as the float model it was quantized from; then that model, which is then both
    as fast on ARM and free of int8's rounding. Then fp16 is weighed the same way: the float model's
    fp16 .nb is final when it takes fewer instructions than that choice, within ``fp16_max_drop``."""
    name, reason, precision = _int8_choice(artifacts)
    float_one = artifacts[-2] if artifacts[-1].int8 else artifacts[-1]
    fp16 = float_one.arm_fp16_instructions_per_inference
    if fp16 is None or float_one.accuracy_arm_fp16 is None:
        return name, reason, precision
    chosen = next(a for a in artifacts if a.name == name).arm_instructions_per_inference
    drop = float_one.accuracy_arm_fp16_reference - float_one.accuracy_arm_fp16
    measured = (f"{float_one.name}'s fp16 .nb takes {fp16 / 1e6:.2f} M aarch64 instructions per inference against "
                f"{chosen / 1e6:.2f} M for {name} ({precision}), at {0.0 - drop * 100 + 0.0:+.2f} points from its float program on "
                f"the same texts (allowed: down to -{fp16_max_drop * 100:.2f}, arm.fp16_max_drop)")
    if drop <= fp16_max_drop and fp16 < chosen:
        return (float_one.name, f"{reason}; {measured}: the final model is {float_one.name} in fp16, for ARMv8.2-A "
                                "cores with FP16 arithmetic (the fp32 arm .nb serves older cores)", "fp16")
    return name, f"{reason}; {measured}: fp16 is not chosen", precision


def _int8_choice(artifacts: list) -> tuple:
    last = artifacts[-1]
    ratio = last.arm_instructions_over_source
    if not last.int8 or ratio is None:
        return last.name, "the last step of the chain", "int8" if last.int8 else "fp32"
    source = artifacts[-2].name
    measured = (f"{last.name} (int8) takes {ratio:.2f}x the aarch64 instructions per inference of {source}, the "
                f"float model it was quantized from (Paddle Lite ARM kernels under qemu, "
                f"{last.arm_cpu_identity} CPU identity)")
    if ratio < 1:
        return last.name, f"{measured}: int8 pays on ARM", "int8"
    return source, f"{measured}: int8 does not pay on ARM at this model size, so the final model is {source}", "fp32"


def _ratio(numerator, denominator, digits: int = 2):
    """numerator / denominator, rounded (None when either is missing)."""
    return None if not numerator or not denominator else round(numerator / denominator, digits)


def write_report(workdir, report: Report) -> Path:
    path = Path(workdir) / REPORT_FILE
    write_json_atomic(path, report.to_json())
    return path


def _fmt(value, kind):
    if value is None:
        return "-"
    return {"acc": f"{value:.4f}", "mb": f"{value / 1e6:.2f} MB", "ms": f"{value:.2f} ms", "x": f"{value:.1f}x",
            "minsn": f"{value / 1e6:.2f} M", "ratio": f"{value:.3f}", "pts": f"{value * 100:+.2f} pts"}[kind]


def format_table(report: Report) -> str:
    """The table a run prints at its end, with the notes that say what produced each figure."""
    metric = report.metric_label
    columns = [("artifact", "name", None), (f"{metric} (Paddle Inf.)", "accuracy", "acc"),
               (f"{metric} (Lite x86)", "accuracy_x86_lite", "acc"), (".nb arm", "nb_bytes_arm", "mb"),
               (".nb x86", "nb_bytes_x86", "mb"), ("Lite x86 latency", "latency_ms_x86_lite", "ms"),
               ("smaller", "times_smaller_arm_vs_teacher", "x"), ("faster", "speedup_x86_lite_vs_teacher", "x"),
               (f"{metric} (ARM kernels)", "accuracy_arm", "acc"), ("ARM insns/inference", "arm_instructions_per_inference",
                                                               "minsn"),
               ("vs teacher", "arm_instructions_over_teacher", "ratio"),
               ("vs control", "gain_over_control", "pts")]
    rows = [[getattr(a, key) if kind is None else _fmt(getattr(a, key), kind) for _, key, kind in columns]
            for a in report.artifacts]
    rows += [[f"({b['name']})", _fmt(b["accuracy"], "acc")] + ["-"] * (len(columns) - 2)  # same test split, no .nb
             for b in report.baselines.values()]
    widths = [max(len(title), *(len(r[i]) for r in rows)) for i, (title, _, _) in enumerate(columns)]
    lines = ["  ".join(title.ljust(w) for (title, _, _), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for baseline in report.baselines.values():
        lines.append(f"({baseline['name']}): {baseline['description']} trained on the same train split in "
                     f"{baseline['seconds']} s, regularisation {baseline['c']} chosen on dev: a reference, not an "
                     "artifact.")
    latency = report.artifacts[0].latency_x86_lite
    if latency:
        lines.append(f"Lite x86 latency: median of {latency['repeats']} runs after {latency['warmup']} warm-up, "
                     f"batch {latency['batch_size']}, seq {latency['seq_len']}, {latency['threads']} thread")
    at_median = [a for a in report.artifacts if a.latency_ms_at_median_length is not None]
    if at_median:
        lines.append(f"At the test split's median length ({at_median[0].median_length_tokens} tokens), batch 1, 1 thread: "
                     + ", ".join(f"{a.name} {_fmt(a.latency_ms_at_median_length, 'ms')}"
                                 + (" (oneDNN int8)" if a.int8 else "") for a in at_median) + " (Lite x86 unless said).")
    if report.final_reason and (report.artifacts[-1].int8 or report.final_precision == "fp16"):
        lines.append(f"final: {report.final} ({report.final_precision}): {report.final_reason}.")
    arm = [a for a in report.artifacts if a.accuracy_arm is not None]
    if arm:
        counts = ", ".join(f"{a.name} {a.arm_texts}" for a in arm)
        lines.append(f"ARM kernels: Paddle Lite's aarch64 kernels under qemu emulation ({arm[0].arm_cpu_identity} CPU "
                     f"identity), test texts run: {counts}; instructions per inference at batch 1, seq "
                     f"{arm[0].arm_instructions['seq_len']}, 1 thread: an instruction count, not a time on a device.")
    at_median = [a for a in arm if a.arm_instructions_at_median_length]
    if at_median:
        lines.append(f"ARM instructions per inference at the test split's median length "
                     f"({at_median[0].median_length_tokens or '-'} tokens): "
                     + ", ".join(f"{a.name} {_fmt(a.arm_instructions_at_median_length, 'minsn')}" for a in at_median)
                     + ".")
    for a in report.artifacts:
        if a.accuracy_arm_fp16 is not None:
            lines.append(f"{a.name} (fp16 .nb, ARMv8.2-A with FP16 only): {report.metric} "
                         f"{_fmt(a.accuracy_arm_fp16, 'acc')} on the fp16 ARM kernels (emulated) over {a.arm_fp16_texts} "
                         f"test texts ({_fmt(a.accuracy_arm_fp16_reference, 'acc')} float on the same texts), "
                         f"{_fmt(a.arm_fp16_instructions_per_inference, 'minsn')} instructions per inference "
                         f"({_fmt(a.arm_fp16_instructions_over_fp32, 'ratio')}x its fp32 .nb), .nb "
                         f"{_fmt(a.nb_bytes_arm_fp16, 'mb')}.")
    for a in report.artifacts:
        if a.int8:
            on_arm = (f"{_fmt(a.accuracy_arm, 'acc')} on ARM int8 kernels (emulated), " if
                      a.accuracy_arm is not None else "")
            lines.append(f"{a.name} (int8): {report.metric} {on_arm}{_fmt(a.accuracy, 'acc')} simulated, "
                         f"{_fmt(a.accuracy_x86_int8_onednn, 'acc')} on oneDNN int8 kernels at "
                         f"{_fmt(a.latency_ms_x86_int8, 'ms')} (Paddle Inference, 1 thread).")
    return "\n".join(lines)
