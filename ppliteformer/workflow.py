"""From a strategy to the list of pipeline stages, and the one-call API ``run_strategy``."""
from __future__ import annotations

from pathlib import Path

from .config import Strategy, load_strategy
from .pipeline import Pipeline
from .preflight import check_strategy_inputs
from .report import build_report, print_table, write_report
from .stages import bench, convert, data, evaluate, export, teacher

STAGE_ORDER = ("data", "teacher", "export", "convert", "evaluate", "bench")


def stages_for(strategy: Strategy) -> list:
    stages = [data.stage(strategy), teacher.stage(strategy), export.stage(strategy),
              convert.stage(strategy), evaluate.stage(strategy)]
    if "x86" in strategy.convert.targets:  # Lite can only be timed here on an x86 .nb
        stages.append(bench.stage(strategy))
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
    records = Pipeline(workdir, stages_for(strategy)).run(until=until)
    report = build_report(strategy, records)
    if until is None:
        write_report(workdir, report)
    print_table(report)
    return report
