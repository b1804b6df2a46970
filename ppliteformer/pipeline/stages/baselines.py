"""Stage `baselines`: the classical reference the report sets beside every artifact (the task's own)."""
from __future__ import annotations

import logging

from ...layout import DATA_STAGE
from ..runner import Stage
from ...tasks import get_task, stage_config

log = logging.getLogger(__name__)


def stage(strategy) -> Stage:
    task = get_task(strategy.task)
    cfg = strategy.baselines

    def run(ctx):
        result = task.baseline(task.read_splits(ctx.input(DATA_STAGE)), cfg)
        log.info("baselines: %s: test %s %.4f (regularisation %s chosen on dev), %d features, %.1f s",
                 result["description"], task.metric, result["accuracy"], result["c"], result["features"],
                 result["seconds"])
        return {result["name"]: result}
    return Stage("baselines", run, stage_config(strategy, cfg), inputs=(DATA_STAGE,))
