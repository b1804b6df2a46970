"""Fault injection: `kill -9` in the middle of a stage, then run again.

The finished stages are reused, the interrupted one is redone from scratch (its
half-written folder is never taken as complete), and the final metrics equal those of an
uninterrupted run with the same seed.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.tiny


def _run_cli(strategy, workdir):
    return subprocess.Popen([sys.executable, "-m", "ppliteformer.cli", "run", str(strategy), "--workdir",
                             str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_inside_stage(strategy, workdir, stage, timeout=300):
    proc = _run_cli(strategy, workdir)
    deadline = time.time() + timeout
    while not list(workdir.glob(f".{stage}.tmp-*")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before the stage started"
        time.sleep(0.2)
    time.sleep(1.5)  # let the stage write part of its output
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _test_metrics(workdir):
    report = json.loads((workdir / "report.json").read_text())
    teacher = report["artifacts"][0]
    return teacher["accuracy"], teacher["accuracy_x86_lite"], teacher["max_abs_logit_diff_lite_vs_inference"]


def test_kill_during_training_then_resume_matches_an_uninterrupted_run(tiny_strategy_file, tmp_path):
    interrupted = tmp_path / "interrupted"
    _kill_inside_stage(tiny_strategy_file, interrupted, "teacher")
    manifest = json.loads((interrupted / "manifest.json").read_text())
    assert list(manifest["stages"]) == ["data", "baselines"]  # only finished stages are recorded
    assert not (interrupted / "report.json").exists()

    proc = _run_cli(tiny_strategy_file, interrupted)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert "[data] reused" in out and "[teacher] running" in out
    assert not list(interrupted.glob(".*.tmp-*"))  # the killed run's leftovers are gone

    clean = tmp_path / "clean"
    proc = _run_cli(tiny_strategy_file, clean)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert _test_metrics(interrupted) == _test_metrics(clean)
