"""From a strategy to the list of pipeline stages, and the one-call API ``run_strategy``."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from .. import ranks
from .bundle import make_bundle
from ..config.strategy import Strategy, load_strategy
from ..layout import TEACHER, artifact_stage_name
from .runner import Pipeline
from .preflight import check_strategy_inputs
from ..report.build import build_report, format_table, write_report
from .stages import (arm_evaluate, baselines, bench, compress, convert, data, evaluate, export, pretrain, teacher,
                     teacher_logits)
from ..steps import get_step, model_stage_name
from ..tasks import get_task

log = logging.getLogger("ppliteformer")


def stage_names(strategy: Strategy) -> list:
    return [s.name for s in stages_for(strategy, arm_toolchain(strategy, announce=False),
                                       arm_toolchain(strategy, announce=False, fp16=True))]


def arm_toolchain(strategy: Strategy, announce: bool = True, fp16: bool = False):
    """The ARM toolchain for the arm_evaluate stages (``fp16``: the one for arm_fp16 .nb files), or None
    (they are left out) when the strategy turns them off or has no such target or, unless ``arm.required``,
    when something is missing (said once if ``announce``)."""
    from ..arm.toolchain import optional_toolchain

    target = "arm_fp16" if fp16 else "arm"
    if not strategy.arm.enabled or target not in strategy.convert.targets:
        return None
    setting = strategy.arm.lite_fp16_setting if fp16 else strategy.arm.lite_setting
    return optional_toolchain(setting, strategy.arm.required, announce and
                              f"{target} .nb files will not be run on ARM kernels here; the rest of the run goes on.",
                              fp16=fp16)


def _check_stages(strategy: Strategy, artifact: str, made_by: str, int8: bool, arm=None, arm_fp16=None,
                  final: bool = False, last_float: bool = False) -> list:
    """convert, evaluate, arm_evaluate (with an ARM toolchain; arm_fp16_evaluate with the fp16 one) and
    bench of one artifact. The fp16 .nb of the ``last_float`` artifact, a candidate for the final
    model, runs the whole test split like the final one.

    An int8 program is converted for arm only: Lite 2.13's x86 matmul kernels are float and
    misread int8 weights (see quantization.py), so Paddle Inference checks its numerics; and opt's
    fp16 is for float programs. A teacher that a chain compresses gets no fp16 .nb either: it is the
    reference, never shipped, and its fp16 run is the costliest to emulate (3.5 of the 6 minutes of
    fp16 stages in the full recipe).
    """
    no_fp16 = int8 or (artifact == TEACHER and bool(strategy.chain))
    targets = [t for t in strategy.convert.targets
               if not (int8 and t == "x86") and not (no_fp16 and t == "arm_fp16")] or ["arm"]
    convert_name = artifact_stage_name(artifact, "convert")
    bench_name = artifact_stage_name(artifact, "bench")
    stages = [convert.stage(targets, made_by, convert_name),
              evaluate.stage(strategy, "x86" in targets, made_by, convert_name,
                             artifact_stage_name(artifact, "evaluate"), int8)]
    if arm is not None and "arm" in targets:
        stages.append(arm_evaluate.stage(strategy, arm, made_by, convert_name,
                                         artifact_stage_name(artifact, "arm_evaluate"),
                                         "int8" if int8 else "fp32", final))
    if arm_fp16 is not None and "arm_fp16" in targets:
        stages.append(arm_evaluate.stage(strategy, arm_fp16, made_by, convert_name,
                                         artifact_stage_name(artifact, "arm_fp16_evaluate"), "fp16",
                                         final or last_float))
    if int8:
        stages.append(bench.int8_stage(strategy.bench, made_by, bench_name))
    elif "x86" in targets:  # Lite can only be timed here on an x86 .nb
        stages.append(bench.stage(strategy.bench, made_by, convert_name, bench_name))
    return stages


def stages_for(strategy: Strategy, arm=None, arm_fp16=None) -> list:
    """Every stage of a strategy, in order; ``arm``: an ArmToolchain, to run each arm .nb on ARM kernels
    (``arm_fp16``: the fp16 build's, for each arm_fp16 .nb)."""
    floats = [TEACHER] + [name for name in strategy.chain if not get_step(name).int8]
    stages = [data.stage(strategy)]
    if strategy.baselines.tfidf_logreg:
        stages.append(baselines.stage(strategy))
    if strategy.pretrain is not None:
        stages.append(pretrain.stage(strategy))
    stages += [teacher.stage(strategy), export.stage(id_dtype=strategy.export.input_dtype)]
    stages += _check_stages(strategy, TEACHER, "export", int8=False, arm=arm, arm_fp16=arm_fp16,
                            final=not strategy.chain, last_float=floats[-1] == TEACHER)
    previous, previous_export = TEACHER, "export"
    if any(get_step(name).needs_teacher_logits for name in strategy.chain):
        stages.append(teacher_logits.stage(strategy.data.max_seq_len))
    for name in strategy.chain:
        step = get_step(name)
        args = (name, strategy.steps[name], previous, previous_export, strategy.data.max_seq_len)
        stages.append(compress.stage(*args))
        control = compress.control_stage(*args)
        if control is not None:
            stages.append(control)
        made_by = model_stage_name(name)
        if not step.int8:
            stages.append(export.stage(name, made_by, strategy.export.input_dtype))
        stages += _check_stages(strategy, name, made_by, int8=step.int8, arm=arm, arm_fp16=arm_fp16,
                                final=name == strategy.chain[-1], last_float=name == floats[-1])
        previous, previous_export = name, made_by
    return stages


@contextlib.contextmanager
def paddlenlp_quiet():
    """PaddleNLP logs every file it saves or loads at INFO: keep only its warnings during a run,
    then give the caller's process its own level back."""
    from paddlenlp.utils.log import logger

    level = logger.logger.level
    logger.set_level("WARNING")
    try:
        yield
    finally:
        logger.logger.setLevel(level)


def run_strategy(strategy, workdir=None, until: str | None = None) -> dict:
    """Run a strategy (a Strategy or a YAML path) to the end, or to stage ``until``.

    Returns the report (also written to WORKDIR/report.json when the run reaches the end).
    """
    if not isinstance(strategy, Strategy):
        strategy = load_strategy(strategy, workdir)
    check_strategy_inputs(strategy)
    workdir = Path(workdir or strategy.workdir)
    if not ranks.is_writer():  # another rank of a paddle.distributed job: the training stages, nothing written
        with paddlenlp_quiet():
            records = Pipeline(workdir, stages_for(strategy)).run(until=until)
        return build_report(strategy, records)
    arm, arm_fp16 = arm_toolchain(strategy), arm_toolchain(strategy, fp16=True)
    with paddlenlp_quiet():
        records = Pipeline(workdir, stages_for(strategy, arm, arm_fp16)).run(until=until)
        report = build_report(strategy, records)
        log.info("%s", format_table(report))
        if until is None:
            write_report(workdir, report)
            if not get_task(strategy.task).bundles:
                log.info("bundle: none for task %s yet (the standalone predictor decodes one label per text)",
                         strategy.task)
                return report
            for folder in make_bundle(workdir, arm_toolchain=arm, arm_fp16_toolchain=arm_fp16):
                log.info("bundle: %s", folder)
    return report
