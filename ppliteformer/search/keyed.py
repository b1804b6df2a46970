"""Many candidates in one work directory: each stage is named by its reuse key, so two candidates that
share a stage (the teacher, its logits, a distilled student that several pruning ratios start from)
share its folder, and the runner's own reuse and resume after kill -9 work unchanged.

``seed_workdir`` then lays the chosen candidate's finished stages under their ordinary names in a work
directory of its own, with manifest records the ordinary ``run`` reuses.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..atomic import write_json_atomic
from ..layout import MANIFEST
from ..pipeline.runner import Pipeline, Stage, StageContext


def stage_keys(stages: list) -> dict:
    """{stage name: the reuse key the runner gives it} for stages listed with their inputs before them."""
    keys = {}
    for stage in stages:
        keys[stage.name] = Pipeline.key(stage, keys)
    return keys


def keyed(stages: list) -> list:
    """The same stages named ``<name>-<key>``, reading their inputs under those names."""
    keys = stage_keys(stages)
    renamed = {name: f"{name}-{key}" for name, key in keys.items()}

    def reading_ordinary_names(stage: Stage):
        def run(ctx: StageContext):
            return stage.run(StageContext(ctx.out_dir, {name: ctx.input(renamed[name]) for name in stage.inputs}))
        return run
    return [Stage(renamed[s.name], reading_ordinary_names(s), s.config, tuple(renamed[n] for n in s.inputs),
                  s.data_parallel) for s in stages]


def seed_workdir(search_workdir: Path, workdir: Path, stages: list) -> list:
    """Hard-link each of ``stages`` that the search finished (under its keyed name) into ``workdir`` under its
    ordinary name and record it in ``workdir``'s manifest with the key an ordinary run computes; returns the
    names laid. Stages already recorded in ``workdir`` are left as they are."""
    finished = json.loads((search_workdir / MANIFEST).read_text(encoding="utf-8"))["stages"]
    target = workdir / MANIFEST
    manifest = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {"stages": {}}
    laid = []
    for name, key in stage_keys(stages).items():
        source = search_workdir / f"{name}-{key}"
        record = finished.get(source.name)
        if record is None or name in manifest["stages"] or not source.is_dir():
            continue
        shutil.rmtree(workdir / name, ignore_errors=True)
        shutil.copytree(source, workdir / name, copy_function=os.link)
        manifest["stages"][name] = {**record, "key": key}
        laid.append(name)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(target, manifest)
    return laid
