"""Runs stages in order inside a work directory, reusing the ones already finished.

Each stage writes into a temporary folder that is renamed into place only when the stage
returns, and only then is it recorded in ``manifest.json`` (itself written to a temporary
file and renamed), with a SHA-256 digest of every file it wrote. A stage is reused when the
manifest records it with the same key (a hash of its own config and the keys of the stages
it reads) and its files still match their digests; a stage whose files were changed or
removed since is reported and run again, and so is every stage that reads it.

Under ``paddle.distributed.launch`` rank 0 is the only writer (``ranks``): it takes the lock, runs
every stage and publishes, before each, whether it runs it (``.ranks/progress.json``). The other
ranks follow: they run the data-parallel stages (training) with it, into folders of their own
that are thrown away, and wait (polling the file, not a collective that could time out) while it
runs the rest. A rank that dies ends the whole job: launch stops the others.
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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import ranks
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
    data_parallel: bool = False  # trains: every rank of a paddle.distributed job runs it (the others run once)


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
    def key(stage: Stage, upstream_keys: dict) -> str:
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
        if ranks.world_size() == 1:
            with self._exclusive():
                return self._run_stages(until)
        progress = _Progress(self.workdir)
        if not ranks.is_writer():
            return progress.follow(self.stages, until)
        with self._exclusive():
            try:
                return self._run_stages(until, progress)
            finally:
                progress.publish(done=True)

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

    def _run_stages(self, until, progress=None):
        manifest = self._manifest()
        keys, records, redone = {}, {}, set()
        for stage in self.stages:
            keys[stage.name] = self.key(stage, keys)
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
            if progress is not None:
                progress.publish(stage.name, not reusable)
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


class _Progress:
    """Rank 0's decisions, one per stage, in WORKDIR/.ranks/progress.json, for the other ranks to follow.

    The run's id comes from rank 0 over the job's process group, once, at the start, so a rank never
    follows the file of an earlier run.
    """
    POLL_S = 0.2

    def __init__(self, workdir: Path):
        import paddle.distributed as dist

        if not dist.is_initialized():
            dist.init_parallel_env()
        run_id = [uuid.uuid4().hex if ranks.is_writer() else None]
        dist.broadcast_object_list(run_id, src=0)
        self.run_id, self.decided, self.done = run_id[0], {}, False
        self.folder = workdir / ".ranks"
        self.path = self.folder / "progress.json"

    def publish(self, stage: str | None = None, runs: bool = False, done: bool = False) -> None:
        if stage is not None:
            self.decided[stage] = runs
        self.done = self.done or done
        self.folder.mkdir(exist_ok=True)
        write_json_atomic(self.path, {"run": self.run_id, "decided": self.decided, "done": self.done})

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if data.get("run") == self.run_id else {}

    def _wait_for(self, stage: str) -> bool | None:
        """Whether rank 0 runs ``stage``; None when it stopped before it (``until``, or an error)."""
        while True:
            data = self._read()
            if stage in data.get("decided", {}):
                return data["decided"][stage]
            if data.get("done"):
                return None
            time.sleep(self.POLL_S)

    def follow(self, stages: list, until) -> dict:
        """Run the data-parallel stages rank 0 runs, each into a folder of this rank's, thrown away after."""
        scratch = self.folder / f"rank{ranks.rank()}"
        for stage in stages:
            runs = self._wait_for(stage.name)
            if runs is None:
                break
            if runs and stage.data_parallel:
                shutil.rmtree(scratch, ignore_errors=True)
                scratch.mkdir(parents=True)
                try:
                    stage.run(StageContext(scratch, {n: self.folder.parent / n for n in stage.inputs}))
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            if stage.name == until:
                break
        while not self._read().get("done"):
            time.sleep(self.POLL_S)
        finished = json.loads((self.folder.parent / MANIFEST).read_text(encoding="utf-8"))["stages"]
        return {stage.name: finished[stage.name] for stage in stages if stage.name in finished}
