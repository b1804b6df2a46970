"""The pipeline's bookkeeping: reuse, redo after a failure, atomic outputs, the work-dir lock.

The stages here are small Python functions: what is under test is the pipeline itself.
"""
import fcntl
import json

import pytest

from ppliteformer.errors import WorkdirError
from ppliteformer.pipeline.runner import LOCK_FILE, MANIFEST, STAGE_CONFIG, Pipeline, Stage

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


def test_a_finished_stage_whose_file_changed_is_named_and_run_again_with_what_reads_it(tmp_path):
    calls, lines = [], []
    stages = [Stage("a", writer("a", calls), {}), Stage("b", writer("b", calls), {}, ("a",)),
              Stage("c", writer("c", calls), {})]
    Pipeline(tmp_path, stages, log=lambda *_: None).run()
    assert set(json.loads((tmp_path / MANIFEST).read_text())["stages"]["a"]["files"]) == {"out.txt", STAGE_CONFIG}
    (tmp_path / "a" / "out.txt").write_text("")  # truncated behind the pipeline's back
    Pipeline(tmp_path, stages, log=lines.append).run()
    assert calls == ["a", "b", "c", "a", "b"]  # c reads nothing that changed: reused
    assert "[a] its output file a/out.txt changed since it finished; running it again" in lines
    assert "[b] running again: it reads a, which was run again" in lines
    (tmp_path / "c" / "out.txt").unlink()
    Pipeline(tmp_path, stages, log=lines.append).run()
    assert calls[-1] == "c" and "[c] its output file c/out.txt is missing since it finished; running it again" in lines


@pytest.mark.parametrize("damage", ['{"stages": {"a": {"key": ', "[]", '{"stages": {"a": 3}}', "\x00\x01"])
def test_a_damaged_manifest_is_an_error_naming_it_and_nothing_is_deleted(tmp_path, damage):
    Pipeline(tmp_path, [Stage("a", writer("a", []), {})], log=lambda *_: None).run()
    (tmp_path / MANIFEST).write_text(damage)
    with pytest.raises(WorkdirError, match=f"{MANIFEST} is damaged .*Move it away \\(mv "):
        Pipeline(tmp_path, [Stage("a", writer("a", []), {})], log=lambda *_: None).run()
    assert (tmp_path / "a" / "out.txt").read_text() == "a" and (tmp_path / MANIFEST).read_text() == damage
