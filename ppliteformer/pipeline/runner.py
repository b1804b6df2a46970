"""Runs stages in order inside a work directory, reusing the ones already finished.

Each stage writes into a temporary folder that is renamed into place only when the stage
returns, and only then is it recorded in ``manifest.json`` (itself written to a temporary
file and renamed), with a SHA-256 digest of every file it wrote. A stage is reused when the
manifest records it with the same key (a hash of its own config and the keys of the stages
it reads) and its files still match their digests; a stage whose files were changed or
removed since is reported and run again, and so is every stage that reads it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import jsonable, temporary_name, write_json_atomic
from ..errors import WorkdirError
from ..layout import LOCK_FILE, MANIFEST, STAGE_CONFIG

log = logging.getLogger("ppliteformer")


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _workdir_error(workdir: Path, exc: OSError) -> WorkdirError:
    return WorkdirError(f"Cannot write in the work directory {workdir}: {exc.strerror or exc}. Free some disk "
                        "space or make the folder writable (or choose another with --workdir), then run again; "
                        "finished stages are kept and will be reused.")


def _digests(folder: Path) -> dict:
    """{path relative to ``folder``: SHA-256} of every file under it."""
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digests[str(path.relative_to(folder))] = digest.hexdigest()
    return digests


def _damage(folder: Path, recorded) -> str:
    """How a finished stage's folder differs from the digests recorded when it finished ("" when it does
    not, or when an older manifest recorded none)."""
    if not isinstance(recorded, dict):
        return ""
    now = _digests(folder)
    missing = sorted(set(recorded) - set(now))
    changed = sorted(name for name in recorded if name in now and now[name] != recorded[name])
    if missing:
        return f"file {folder.name}/{missing[0]} is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
    if changed:
        return f"file {folder.name}/{changed[0]} changed" + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
    return ""


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable  # run(ctx: StageContext) -> dict of metrics
    config: object = None  # a dataclass (or plain dict) whose value decides reuse
    inputs: tuple = ()     # names of the stages whose outputs this one reads


@dataclass
class StageContext:
    out_dir: Path
    inputs: dict = field(default_factory=dict)  # stage name -> finished output folder

    def input(self, name: str) -> Path:
        return self.inputs[name]


class Pipeline:
    def __init__(self, workdir, stages: list, log=log.info):
        self.workdir = Path(workdir)
        self.stages = stages
        self.log = log

    def _manifest(self) -> dict:
        """The manifest, or a WorkdirError naming it when it is damaged (nothing is deleted)."""
        path = self.workdir / MANIFEST
        if not path.is_file():
            return {"stages": {}}
        try:
            manifest = json.loads(path.read_bytes().decode("utf-8"))
            stages = manifest["stages"]
            if not isinstance(stages, dict) or not all(isinstance(r, dict) and isinstance(r.get("key"), str)
                                                       and isinstance(r.get("metrics", {}), dict)
                                                       for r in stages.values()):
                raise ValueError("a stage record without its key")
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise WorkdirError(f"{path} is damaged ({str(exc)[:100]}), so which stages finished is unknown. Move it "
                               f"away (mv {path} {path}.damaged) and run again: every stage then runs anew into "
                               f"{self.workdir}; or give this run another --workdir.") from None
        return manifest

    @staticmethod
    def _key(stage: Stage, upstream_keys: dict) -> str:
        blob = json.dumps({"stage": stage.name, "config": stage.config,
                           "inputs": {n: upstream_keys[n] for n in stage.inputs}},
                          sort_keys=True, default=jsonable)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def run(self, until: str | None = None) -> dict:
        """Run (or reuse) every stage up to ``until``; returns {stage: record}."""
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkdirError(f"Cannot create the work directory {self.workdir}: {exc.strerror}. "
                               "Choose a writable place with --workdir.") from None
        with self._exclusive():
            return self._run_stages(until)

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold WORKDIR/.lock for the whole run; a second run in the same folder is refused."""
        try:
            lock = open(self.workdir / LOCK_FILE, "w")
        except OSError as exc:
            raise _workdir_error(self.workdir, exc) from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkdirError(f"Another ppliteformer run is using {self.workdir}. Wait for it to finish, "
                                   "or give this run its own --workdir.") from None
            self._remove_leftovers()
            yield

    def _remove_leftovers(self):
        """Temporary stage folders of a run that was killed; never complete, so never reused."""
        for leftover in self.workdir.glob(".*.tmp-*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def _run_stages(self, until):
        manifest = self._manifest()
        keys, records, redone = {}, {}, set()
        for stage in self.stages:
            keys[stage.name] = self._key(stage, keys)
            out_dir = self.workdir / stage.name
            done = manifest["stages"].get(stage.name)
            reusable = done and done["key"] == keys[stage.name] and out_dir.is_dir()
            if reusable and (redone & set(stage.inputs)):
                self.log(f"[{stage.name}] running again: it reads {', '.join(sorted(redone & set(stage.inputs)))}, "
                         "which was run again")
                reusable = False
            elif reusable and (damage := _damage(out_dir, done.get("files"))):
                self.log(f"[{stage.name}] its output {damage} since it finished; running it again")
                reusable = False
            if reusable:
                self.log(f"[{stage.name}] reused (finished {done.get('finished_at', '?')})")
                records[stage.name] = done
            else:
                if done and done["key"] == keys[stage.name]:
                    redone.add(stage.name)
                records[stage.name] = self._run_stage(stage, keys[stage.name], out_dir, manifest)
            if stage.name == until:
                break
        return records

    def _run_stage(self, stage: Stage, key: str, out_dir: Path, manifest: dict) -> dict:
        self.log(f"[{stage.name}] running" + (" (replacing the output of an earlier, different config)"
                                              if out_dir.is_dir() else ""))
        tmp_dir = temporary_name(self.workdir / stage.name)
        try:
            tmp_dir.mkdir(parents=True)
            write_json_atomic(tmp_dir / STAGE_CONFIG, {"stage": stage.name, "config": stage.config,
                                                       "inputs": list(stage.inputs)})
        except OSError as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise _workdir_error(self.workdir, exc) from None
        ctx = StageContext(tmp_dir, {n: self.workdir / n for n in stage.inputs})
        start = time.time()
        try:
            metrics = stage.run(ctx) or {}
        except BaseException as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
                raise _workdir_error(self.workdir, exc) from None
            raise
        record = {"key": key, "seconds": round(time.time() - start, 1),
                  "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), "metrics": metrics,
                  "files": _digests(tmp_dir)}
        try:
            manifest["stages"].pop(stage.name, None)  # the old output is going away
            write_json_atomic(self.workdir / MANIFEST, manifest)
            shutil.rmtree(out_dir, ignore_errors=True)
            os.replace(tmp_dir, out_dir)
            manifest["stages"][stage.name] = record
            write_json_atomic(self.workdir / MANIFEST, manifest)
        except OSError as exc:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise _workdir_error(self.workdir, exc) from None
        self.log(f"[{stage.name}] done in {record['seconds']} s")
        return record
