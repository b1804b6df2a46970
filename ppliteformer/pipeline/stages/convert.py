"""Stage `convert`: Paddle Lite opt turns an artifact's inference model into `.nb` files per target."""
from __future__ import annotations

import json
import logging

from ...runtimes.lite_convert import REWRITES_FILE, convert_model
from ..runner import Stage
from ...runtimes.x86_rewrites import REWRITES

log = logging.getLogger(__name__)


def stage(targets, source: str = "export", name: str = "convert") -> Stage:
    """Convert the inference model made by stage ``source`` for each target."""
    def run(ctx):
        sizes = {}
        for target in targets:
            nb = convert_model(ctx.input(source), ctx.out_dir / target, target)
            sizes[f"nb_bytes_{target}"] = nb.stat().st_size
            rewrites = nb.parent / REWRITES_FILE
            if rewrites.is_file():
                sizes["x86_rewrites"] = json.loads(rewrites.read_text())
            log.info("%s: %s .nb %.2f MB", name, target, nb.stat().st_size / 1e6)
        return sizes
    config = {"targets": list(targets), "meta_names_target": True}  # older work dirs convert again for it
    if "x86" in targets:  # a work dir converted before a rewrite was added converts again
        config["x86_rewrites"] = sorted(REWRITES)
    return Stage(name, run, config, inputs=(source,))
