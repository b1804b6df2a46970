"""Stage `data`: load, clean and split the dataset of the strategy's task; write splits.json."""
from __future__ import annotations

import logging
from pathlib import Path

from ...atomic import write_json_atomic
from ...layout import DATA_STAGE, SPLITS_FILE
from ..runner import Stage
from ...config.strategy import DataConfig
from ...tasks import DEFAULT_TASK, get_task, stage_config

log = logging.getLogger(__name__)


def prepare_data(cfg: DataConfig, out_dir, task: str = DEFAULT_TASK):
    """The splits of ``task``'s data (``cfg.source``), written to ``out_dir``."""
    task = get_task(task)
    splits = task.load_splits(cfg)
    write_json_atomic(Path(out_dir) / SPLITS_FILE, splits.to_json())
    log.info(f"data: {task.describe(splits)}")
    return splits


def stage(strategy) -> Stage:
    return Stage(DATA_STAGE, lambda ctx: prepare_data(strategy.data, ctx.out_dir, strategy.task).stats,
                 stage_config(strategy, strategy.data))
