"""From a strategy to the list of pipeline stages, and the one-call API ``run_strategy``."""
from __future__ import annotations

from pathlib import Path

from .config import QUANT_STEPS, Strategy, load_strategy
from .bundle import make_bundle
from .pipeline import Pipeline
from .preflight import check_strategy_inputs
from .report import build_report, print_table, write_report
from .stages import arm_evaluate, bench, compress, convert, data, evaluate, export, teacher


def artifact_stage_name(artifact: str, kind: str) -> str:
    return kind if artifact == "teacher" else f"{artifact}_{kind}"


def model_stage_name(artifact: str) -> str:
    """The stage whose folder holds an artifact's inference model: qat and ptq write it
    themselves, every other artifact has an export stage."""
    return artifact if artifact in QUANT_STEPS else artifact_stage_name(artifact, "export")


def stage_names(strategy: Strategy) -> list:
    return [s.name for s in stages_for(strategy, arm_toolchain(strategy, announce=False))]


def arm_toolchain(strategy: Strategy, announce: bool = True):
    """The ARM toolchain for the arm_evaluate stages, or None (they are left out) when the strategy
    turns them off or, unless ``arm.required``, when something is missing (said once if ``announce``)."""
    from .arm.toolchain import ArmToolchainMissing, ensure_toolchain

    if not strategy.arm.enabled:
        return None
    try:
        return ensure_toolchain(strategy.arm.lite_setting)
    except ArmToolchainMissing as exc:
        if strategy.arm.required:
            raise
        if announce:
            print(f"note: arm .nb files will not be run on ARM kernels here. {exc} The rest of the run goes on.",
                  flush=True)
        return None


def _check_stages(strategy: Strategy, artifact: str, made_by: str, int8: bool, arm=None,
                  final: bool = False) -> list:
    """convert, evaluate, arm_evaluate (with an ARM toolchain) and bench of one artifact.

    An int8 program is converted for arm only: Lite 2.13's x86 matmul kernels are float and
    misread int8 weights (see quantization.py), so Paddle Inference checks its numerics.
    """
    targets = [t for t in strategy.convert.targets if not (int8 and t == "x86")] or ["arm"]
    convert_name = artifact_stage_name(artifact, "convert")
    bench_name = artifact_stage_name(artifact, "bench")
    stages = [convert.stage(targets, made_by, convert_name),
              evaluate.stage(strategy, "x86" in targets, made_by, convert_name,
                             artifact_stage_name(artifact, "evaluate"), int8)]
    if arm is not None and "arm" in targets:
        stages.append(arm_evaluate.stage(strategy, arm, made_by, convert_name,
                                         artifact_stage_name(artifact, "arm_evaluate"), int8, final))
    if int8:
        stages.append(bench.int8_stage(strategy.bench, made_by, bench_name))
    elif "x86" in targets:  # Lite can only be timed here on an x86 .nb
        stages.append(bench.stage(strategy.bench, convert_name, bench_name))
    return stages


def stages_for(strategy: Strategy, arm=None) -> list:
    """Every stage of a strategy, in order; ``arm``: an ArmToolchain, to run each arm .nb on ARM kernels."""
    stages = [data.stage(strategy), teacher.stage(strategy), export.stage()]
    stages += _check_stages(strategy, "teacher", "export", int8=False, arm=arm, final=not strategy.chain)
    previous, previous_export = "teacher", "export"
    if any(step in compress.TRAINING_STEPS for step in strategy.chain):
        stages.append(compress.teacher_logits_stage(strategy.data.max_seq_len))
    for step in strategy.chain:
        stages.append(compress.stage(step, strategy.steps[step], previous, previous_export,
                                     strategy.data.max_seq_len))
        made_by = model_stage_name(step)
        if step not in QUANT_STEPS:
            stages.append(export.stage(step, made_by))
        stages += _check_stages(strategy, step, made_by, int8=step in QUANT_STEPS, arm=arm,
                                final=step == strategy.chain[-1])
        previous, previous_export = step, made_by
    return stages


def quiet_paddlenlp():
    """PaddleNLP logs every file it saves or loads at INFO; keep only its warnings."""
    from paddlenlp.utils.log import logger

    logger.set_level("WARNING")


def run_strategy(strategy, workdir=None, until: str | None = None) -> dict:
    """Run a strategy (a Strategy or a YAML path) to the end, or to stage ``until``.

    Returns the report (also written to WORKDIR/report.json when the run reaches the end).
    """
    if not isinstance(strategy, Strategy):
        strategy = load_strategy(strategy, workdir)
    check_strategy_inputs(strategy)
    workdir = Path(workdir or strategy.workdir)
    quiet_paddlenlp()
    arm = arm_toolchain(strategy)
    records = Pipeline(workdir, stages_for(strategy, arm)).run(until=until)
    report = build_report(strategy, records)
    print_table(report)
    if until is None:
        write_report(workdir, report)
        for folder in make_bundle(workdir, arm_toolchain=arm):
            print(f"bundle: {folder}")
    return report
