"""The typed records of a run: what a step reports, one artifact's figures, and the whole report.

report.json is ``Report.to_json()``; the printed table, the HTML/Markdown report, the bundle
and the tests read it back with ``Report.from_json``. Standard library only: ``ppliteformer
report`` renders without importing Paddle.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import List, Optional


def _from_dict(cls, data: dict):
    """``cls(**data)`` that names an unknown key instead of a TypeError deep in a dataclass."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field {unknown[0]!r}")
    return cls(**data)


class _FlatRecord:
    """A dataclass whose fields are all plain JSON values."""

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict):
        return _from_dict(cls, data)


@dataclass
class StepResult(_FlatRecord):
    """What the teacher and every compression step report, under the same names.

    ``dev_accuracy_*`` are dev-split accuracies measured in Python (dygraph or, for an int8
    program, the simulated int8 model); ``None`` where a step does not measure one.
    """
    dev_accuracy_before: Optional[float] = None  # the model the step started from
    dev_accuracy_after: Optional[float] = None   # the model it made
    parameters: Optional[int] = None             # of the model it made
    model_bytes: Optional[int] = None            # an int8 program's inference model size
    training: Optional[dict] = None              # steps that train: {"history": [...], "best_dev_accuracy": ...}
    details: dict = field(default_factory=dict)  # what only this step measures (widths, vocabulary sizes, ...)


# report.json field names before the ratios were named by their direction; an older report still reads.
_RENAMED_FIELDS = {"size_ratio_arm_vs_teacher": "times_smaller_arm_vs_teacher",
                   "arm_instruction_ratio_vs_teacher": "arm_instructions_over_teacher",
                   "arm_instruction_ratio_vs_source": "arm_instructions_over_source"}


@dataclass
class ArtifactRecord(_FlatRecord):
    """One artifact (the teacher or a chain step's model) and every figure measured on it.

    Each figure names the runtime that produced it: ``_x86_lite`` Paddle Lite's x86 kernels,
    ``_arm`` Paddle Lite's ARM kernels under qemu emulation (numerics and instruction counts,
    never a time), no suffix Paddle Inference.
    """
    name: str
    int8: bool
    accuracy: Optional[float] = None  # the task's headline metric (Report.metric), as every accuracy* field
    task_metrics: Optional[dict] = None  # every metric the task reports, on Paddle Inference
    accuracy_x86_lite: Optional[float] = None
    max_abs_logit_diff_lite_vs_inference: Optional[float] = None
    label_agreement_lite_vs_inference: Optional[float] = None
    inference_model_bytes: Optional[int] = None
    nb_bytes_arm: Optional[int] = None
    nb_bytes_x86: Optional[int] = None
    latency_ms_x86_lite: Optional[float] = None
    latency_x86_lite: Optional[dict] = None
    median_length_tokens: Optional[int] = None            # the test split's median token count ...
    latency_ms_at_median_length: Optional[float] = None   # ... and the latency there (Lite x86, or oneDNN int8)
    accuracy_x86_int8_onednn: Optional[float] = None
    latency_ms_x86_int8: Optional[float] = None
    latency_x86_int8: Optional[dict] = None
    parameters: Optional[int] = None
    peak_memory_mb: Optional[float] = None  # of the process timing the x86 .nb
    accuracy_arm: Optional[float] = None
    arm_texts: Optional[int] = None
    arm_whole_test_split: Optional[bool] = None
    arm_reference: Optional[str] = None
    max_abs_logit_diff_arm_vs_reference: Optional[float] = None
    label_agreement_arm_vs_reference: Optional[float] = None
    arm_cpu_identity: Optional[str] = None
    arm_instructions_per_inference: Optional[float] = None
    arm_instructions: Optional[dict] = None
    arm_instructions_at_median_length: Optional[float] = None  # per inference, at median_length_tokens' ARM twin
    # Where they go, by op type ({group: instructions}, summing to the count) at the bench and the median length
    arm_split: Optional[dict] = None  # {"bench": {...}, "median": {...}}
    # The same .nb on Lite's generic kernels (what a core Lite does not recognise runs; the table's are the A55's)
    arm_generic_instructions_per_inference: Optional[float] = None
    arm_generic_instructions_at_median_length: Optional[float] = None
    # The arm_fp16 .nb (opt --enable_fp16) on the fp16 Lite build's kernels under qemu: float artifacts only
    nb_bytes_arm_fp16: Optional[int] = None
    accuracy_arm_fp16: Optional[float] = None
    accuracy_arm_fp16_reference: Optional[float] = None  # the float program on the same texts (Paddle Inference)
    arm_fp16_texts: Optional[int] = None
    max_abs_logit_diff_arm_fp16_vs_reference: Optional[float] = None
    label_agreement_arm_fp16_vs_reference: Optional[float] = None
    arm_fp16_instructions_per_inference: Optional[float] = None
    arm_fp16_instructions: Optional[dict] = None
    arm_fp16_instructions_at_median_length: Optional[float] = None
    arm_fp16_split: Optional[dict] = None
    arm_fp16_instructions_over_fp32: Optional[float] = None  # the fp16 .nb's count / the same artifact's arm .nb's
    accuracy_verified_by: str = ""
    # Each ratio's name says its direction: times_smaller and speedup are teacher / artifact (above 1 is
    # better), arm_instructions_over_* is artifact / teacher (or its source; below 1 is better).
    times_smaller_arm_vs_teacher: Optional[float] = None
    speedup_x86_lite_vs_teacher: Optional[float] = None
    arm_instructions_over_teacher: Optional[float] = None
    accuracy_change_vs_teacher: Optional[float] = None
    arm_instructions_over_source: Optional[float] = None
    control: Optional[str] = None               # what this artifact is measured against (see report/build.py)
    control_accuracy: Optional[float] = None    # the control's test accuracy
    gain_over_control: Optional[float] = None   # accuracy - control_accuracy

    @classmethod
    def from_json(cls, data: dict):
        return _from_dict(cls, {_RENAMED_FIELDS.get(key, key): value for key, value in data.items()})


@dataclass
class Report:
    strategy: str
    chain: List[str]
    teacher: str
    final: str
    final_reason: str
    final_fp32: str
    data: dict
    steps: dict            # artifact name -> StepResult (the teacher's training included)
    stage_seconds: dict
    total_seconds: float
    artifacts: List[ArtifactRecord]
    baselines: dict = field(default_factory=dict)  # name -> a classical model's test accuracy on the same split
    task: str = "seq_cls"      # the strategy's task (ppliteformer/tasks)
    metric: str = "accuracy"   # the task's headline metric: what every ``accuracy*`` field of this report holds
    metric_label: str = "acc"  # its short name in tables
    final_precision: str = ""  # fp32, int8 or fp16: which .nb of the final artifact is the final model

    def artifact(self, name: str) -> ArtifactRecord:
        return next(a for a in self.artifacts if a.name == name)

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["steps"] = {name: step.to_json() for name, step in self.steps.items()}
        out["artifacts"] = [a.to_json() for a in self.artifacts]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Report":
        data = dict(data)
        data["steps"] = {name: StepResult.from_json(step) for name, step in (data.get("steps") or {}).items()}
        data["artifacts"] = [ArtifactRecord.from_json(a) for a in data.get("artifacts") or []]
        return _from_dict(cls, data)
