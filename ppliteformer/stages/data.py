"""Stage `data`: load, clean and split the dataset; write splits.json."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import DataConfig
from ..data import DatasetSplits, load_splits
from ..pipeline import Stage, write_json_atomic

SPLITS_FILE = "splits.json"


def prepare_data(cfg: DataConfig, out_dir) -> DatasetSplits:
    splits = load_splits(cfg.source, cfg.split, cfg.seed)
    write_json_atomic(Path(out_dir) / SPLITS_FILE, splits.to_json())
    s = splits.stats
    print(f"data: {s['rows']} rows, {s['distinct_texts']} distinct texts, "
          f"{s['contradictory_dropped']} labelled both ways dropped -> train {s['train']}, "
          f"dev {s['dev']}, test {s['test']} (labels: {', '.join(splits.labels)})", flush=True)
    return splits


def read_splits(data_dir) -> DatasetSplits:
    return DatasetSplits.from_json(json.loads((Path(data_dir) / SPLITS_FILE).read_text(encoding="utf-8")))


def stage(strategy) -> Stage:
    return Stage("data", lambda ctx: prepare_data(strategy.data, ctx.out_dir).stats, strategy.data)
