"""The pipeline's bookkeeping: reuse, redo after a failure, atomic outputs, the work-dir lock.

The stages here are small Python functions: what is under test is the pipeline itself.
"""
import fcntl
import json

import pytest

from ppliteformer.errors import WorkdirError
from ppliteformer.pipeline import LOCK_FILE, MANIFEST, Pipeline, Stage

pytestmark = pytest.mark.unit


def writer(name, calls, fail=False):
    def run(ctx):
        calls.append(name)
        (ctx.out_dir / "out.txt").write_text(name)
        if fail:
            raise RuntimeError("stage failed half-way")
        return {"wrote": name}
    return run


def test_finished_stages_are_reused_and_a_failed_one_leaves_nothing(tmp_path):
    calls = []
    stages = [Stage("a", writer("a", calls), {"x": 1}), Stage("b", writer("b", calls, fail=True), {}, ("a",))]
    with pytest.raises(RuntimeError):
        Pipeline(tmp_path, stages, log=lambda *_: None).run()
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert list(manifest["stages"]) == ["a"]
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.tmp-*"))

    stages[1] = Stage("b", writer("b", calls), {}, ("a",))
    records = Pipeline(tmp_path, stages, log=lambda *_: None).run()
    assert calls == ["a", "b", "b"]  # a reused, b redone
    assert records["b"]["metrics"] == {"wrote": "b"} and (tmp_path / "b" / "out.txt").read_text() == "b"


def test_changed_config_reruns_the_stage_and_everything_after_it(tmp_path):
    calls = []
    quiet = dict(log=lambda *_: None)
    Pipeline(tmp_path, [Stage("a", writer("a", calls), {"x": 1}), Stage("b", writer("b", calls), {}, ("a",))],
             **quiet).run()
    Pipeline(tmp_path, [Stage("a", writer("a", calls), {"x": 2}), Stage("b", writer("b", calls), {}, ("a",))],
             **quiet).run()
    assert calls == ["a", "b", "a", "b"]


def test_a_second_run_in_the_same_workdir_is_refused(tmp_path):
    with open(tmp_path / LOCK_FILE, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(WorkdirError, match="Another ppliteformer run is using"):
            Pipeline(tmp_path, [Stage("a", writer("a", []))], log=lambda *_: None).run()
