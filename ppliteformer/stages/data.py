"""Stage `data`: load, clean and split the dataset; write splits.json."""
from __future__ import annotations

import logging
from pathlib import Path

from ..atomic import write_json_atomic
from ..config import DataConfig
from ..data import DatasetSplits, load_splits
from ..layout import DATA_STAGE, SPLITS_FILE
from ..pipeline import Stage

log = logging.getLogger(__name__)


def prepare_data(cfg: DataConfig, out_dir) -> DatasetSplits:
    splits = load_splits(cfg.source, cfg.split, cfg.seed)
    write_json_atomic(Path(out_dir) / SPLITS_FILE, splits.to_json())
    s = splits.stats
    inputs = "texts" if not splits.pairs or "derived" in s else "pairs"
    derived = f" ({s['derived']})" if "derived" in s else ""
    log.info(f"data: {s['rows']} rows, {s['distinct_texts']} distinct {inputs}, "
             f"{s['contradictory_dropped']} labelled both ways dropped -> train {s['train']}, "
             f"dev {s['dev']}, test {s['test']}{derived} (labels: {', '.join(splits.labels)})")
    return splits


def stage(strategy) -> Stage:
    return Stage(DATA_STAGE, lambda ctx: prepare_data(strategy.data, ctx.out_dir).stats, strategy.data)
