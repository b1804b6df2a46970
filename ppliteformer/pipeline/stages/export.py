"""Stage `export`: an artifact's checkpoint -> its inference model (see ppliteformer/export_program.py)."""
from __future__ import annotations

from ...models.export_program import export_model
from ..runner import Stage


def stage(source: str = "teacher", name: str = "export", id_dtype: str = "int64") -> Stage:
    """Export the checkpoint made by stage ``source`` with ``id_dtype`` id inputs (export.input_dtype).

    int64 keeps the empty config that exports had before the setting existed, so their work
    directories are reused."""
    config = {} if id_dtype == "int64" else {"id_dtype": id_dtype}
    return Stage(name, lambda ctx: export_model(ctx.input(source), ctx.out_dir, id_dtype), config, inputs=(source,))
