"""The main job, as a user runs it: `ppliteformer run strategies/baseline.yaml` (minutes)."""
import json
import subprocess
import sys

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_baseline_strategy_end_to_end(tmp_path):
    workdir = tmp_path / "baseline"
    proc = subprocess.run([sys.executable, "-m", "ppliteformer.cli", "run", REPO / "strategies" / "baseline.yaml",
                           "--workdir", workdir], capture_output=True, text=True, timeout=25 * 60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((workdir / "report.json").read_text())
    teacher = report["artifacts"][0]
    # Measured 0.8306 (README); majority class is 0.52, char n-gram logistic regression 0.84.
    assert teacher["accuracy"] >= 0.80
    assert teacher["accuracy_x86_lite"] == pytest.approx(teacher["accuracy"], abs=0.001)
    assert teacher["max_abs_logit_diff_lite_vs_inference"] < 1e-4
    assert teacher["nb_bytes_arm"] > 1e6 and teacher["latency_ms_x86_lite"] > 0
    assert report["data"]["test"] > 1700
    assert "teacher" in proc.stdout and "Lite x86 latency" in proc.stdout
