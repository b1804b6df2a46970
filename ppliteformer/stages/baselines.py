"""Stage `baselines`: the classical reference the report sets beside every artifact."""
from __future__ import annotations

import logging

from ..classical_baseline import tfidf_logreg
from ..data import read_splits
from ..layout import DATA_STAGE
from ..pipeline import Stage

log = logging.getLogger(__name__)


def stage(cfg) -> Stage:
    def run(ctx):
        result = tfidf_logreg(read_splits(ctx.input(DATA_STAGE)), cfg.tfidf_c_grid, cfg.seed)
        log.info("baselines: %s: test accuracy %.4f (C %s chosen on dev), %d features, %.1f s",
                 result["description"], result["accuracy"], result["c"], result["features"], result["seconds"])
        return {result["name"]: result}
    return Stage("baselines", run, cfg, inputs=(DATA_STAGE,))
