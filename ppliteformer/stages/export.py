"""Stage `export`: an artifact's checkpoint -> its inference model (see ppliteformer/export_program.py)."""
from __future__ import annotations

from ..export_program import export_model
from ..pipeline import Stage


def stage(source: str = "teacher", name: str = "export") -> Stage:
    """Export the checkpoint made by stage ``source``."""
    return Stage(name, lambda ctx: export_model(ctx.input(source), ctx.out_dir), {}, inputs=(source,))
