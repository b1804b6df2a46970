"""Corrupt models, full disks, concurrent runs, huge input files: clear errors, nothing lost."""
import errno
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from ppliteformer.errors import ModelFileError, WorkdirError
from ppliteformer.pipeline.runner import MANIFEST, Pipeline, Stage
from ppliteformer.runtimes.host import open_lite
from ppliteformer.device.lite_runtime import batch_arrays

from .conftest import REPO


@pytest.mark.tiny
@pytest.mark.parametrize("damage", ["truncated", "not-a-model", "arm-on-x86"])
def test_a_bad_nb_is_an_error_and_this_process_survives(damage, tiny_run, tmp_path):
    convert = tiny_run[0] / "convert"
    data = (convert / "x86" / "model.nb").read_bytes()
    bad = {"truncated": lambda: data[:len(data) // 2], "not-a-model": lambda: b"PK\x03\x04 a zip file",
           "arm-on-x86": lambda: (convert / "arm" / "model.nb").read_bytes()}[damage]()
    (tmp_path / "model.nb").write_bytes(bad)
    with pytest.raises(ModelFileError):
        open_lite(tmp_path / "model.nb")
    (logits,) = open_lite(convert / "x86" / "model.nb").run(batch_arrays([[1, 5, 2]]))  # Lite still works here
    assert logits.shape == (1, 2) and np.isfinite(logits).all()


def _stage(name, config, fail_with=None):
    def run(ctx):
        (ctx.out_dir / "result.txt").write_text(f"{name} {config}")
        if fail_with:
            raise OSError(fail_with, "No space left on device")
        return {"config": config}
    return Stage(name, run, {"v": config})


@pytest.mark.tiny
def test_a_full_disk_is_a_clear_error_and_earlier_results_survive(tmp_path):
    quiet = dict(log=lambda *_: None)
    Pipeline(tmp_path, [_stage("a", 1), _stage("b", 1)], **quiet).run()
    with pytest.raises(WorkdirError, match="Free some disk space"):
        Pipeline(tmp_path, [_stage("a", 1), _stage("b", 2, fail_with=errno.ENOSPC)], **quiet).run()
    assert (tmp_path / "a" / "result.txt").read_text() == "a 1"
    assert (tmp_path / "b" / "result.txt").read_text() == "b 1"  # the old b stays until a new one is complete
    assert not list(tmp_path.glob(".*.tmp-*"))
    assert json.loads((tmp_path / MANIFEST).read_text())["stages"]["a"]["metrics"] == {"config": 1}


@pytest.mark.tiny
def test_runs_in_two_workdirs_at_once_do_not_interfere(tiny_strategy_file, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "ppliteformer.cli", "run", str(tiny_strategy_file),
                               "--workdir", str(tmp_path / name)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in ("one", "two")]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    reports = [json.loads((tmp_path / name / "report.json").read_text()) for name in ("one", "two")]
    assert reports[0]["artifacts"][0]["accuracy"] == reports[1]["artifacts"][0]["accuracy"]


def _peak_rss_mb(cmd, out_path) -> float:
    """Run ``cmd`` with stdout to a file; the largest resident set size seen while it ran."""
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            try:
                status = open(f"/proc/{proc.pid}/status").read()
                peak = max(peak, int(status.split("VmRSS:")[1].split()[0]))
            except (FileNotFoundError, IndexError):
                pass
            time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()[-2000:]
    return peak / 1024


@pytest.mark.slow
def test_a_100000_line_file_is_streamed_in_bounded_memory(tiny_run, tmp_path):
    model = tiny_run[0] / "convert" / "x86"
    lines = ["质量很好，物流也快 😀", "房间又小又脏 bad service", "还行吧。Not bad!"]
    peaks = {}
    for n in (1000, 100_000):
        texts = tmp_path / f"{n}.txt"
        texts.write_text("\n".join(lines[i % 3] + str(i) for i in range(n)) + "\n", encoding="utf-8")
        cmd = [sys.executable, str(REPO / "deploy" / "python" / "predict.py"), "--model", str(model), "--file",
               str(texts)]
        peaks[n] = _peak_rss_mb(cmd, tmp_path / f"{n}.out")
        assert sum(1 for _ in open(tmp_path / f"{n}.out", encoding="utf-8")) == n
    assert peaks[100_000] < peaks[1000] + 20, peaks  # memory does not grow with the file
