"""The console script: user mistakes exit 2 with one clear paragraph and no traceback."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ppliteformer.errors import StageError
from ppliteformer.runtimes.lite_convert import convert_model

from .conftest import REPO


def ppliteformer(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ppliteformer.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.unit
@pytest.mark.parametrize("args, fragment", [
    (["run", "no/such/strategy.yaml"], "strategy file not found"),
    (["convert", "--model", "no/such/dir", "--target", "arm", "--out", "x"], "model.pdmodel is missing"),
    (["bench", "--model", "no/such/model.nb"], "no such .nb file"),
])
def test_user_mistakes_exit_2_without_traceback(args, fragment):
    proc = ppliteformer(*args)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.unit
def test_bad_strategy_key_through_the_cli(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("teacher: {epoch: 3}\n")
    proc = ppliteformer("run", path)
    assert proc.returncode == 2 and "unknown key 'epoch'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.unit
def test_unknown_until_stage():
    proc = ppliteformer("run", REPO / "strategies" / "baseline.yaml", "--until", "distill")
    assert proc.returncode == 2 and "--until distill: this strategy has no such stage" in proc.stderr


@pytest.mark.tiny
def test_opt_failure_surfaces_as_stage_error(tmp_path):
    (tmp_path / "model.pdmodel").write_bytes(b"this is not a paddle program")
    (tmp_path / "model.pdiparams").write_bytes(b"\x00" * 64)
    with pytest.raises(StageError, match="Paddle Lite opt failed"):
        convert_model(tmp_path, tmp_path / "out", "arm")
    assert not (tmp_path / "out" / "model.nb").exists()


@pytest.mark.tiny
def test_convert_and_bench_commands_on_the_tiny_export(tiny_run, tmp_path):
    workdir, _ = tiny_run
    proc = ppliteformer("convert", "--model", workdir / "export", "--target", "arm", "--target", "x86",
                        "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "arm" / "model.nb").is_file() and (tmp_path / "x86" / "model.nb").is_file()
    x86_line = next(line for line in proc.stdout.splitlines() if line.startswith("x86:"))
    assert '"matmul_v2_as_mul": ' in x86_line and "rewritten" not in proc.stdout.splitlines()[0]  # arm: unchanged
    proc = ppliteformer("bench", "--model", tmp_path / "x86" / "model.nb", "--repeats", "3", "--seq-len", "16")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout[proc.stdout.index("\n{") + 1:])
    lite = result["engines"]["paddle_lite"]
    assert result["seq_len"] == 16 and lite["repeats"] == 3 and 0 < lite["min_ms"] <= lite["median_ms"]


CONSOLE_SCRIPT = Path(sys.executable).with_name("ppliteformer")  # the installed entry point, as the README uses it


@pytest.mark.tiny
def test_predict_through_the_console_script_as_the_readme_shows(tiny_run):
    workdir, _ = tiny_run
    helped = subprocess.run([CONSOLE_SCRIPT, "predict", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--selfcheck" in helped.stdout
    proc = subprocess.run([CONSOLE_SCRIPT, "predict", "--model", workdir / "convert" / "x86", "--text", "不错"],
                          capture_output=True, text=True, timeout=300)
    label, probability, text = proc.stdout.strip().split("\t")
    assert proc.returncode == 0 and label in ("negative", "positive") and 0.5 <= float(probability) <= 1
    assert text == "不错"


@pytest.mark.unit
def test_arm_setup_names_what_is_missing(tmp_path):
    proc = subprocess.run([CONSOLE_SCRIPT, "arm-setup", "--lite-dir", tmp_path / "nowhere"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Paddle Lite ARM build" in proc.stderr and "Traceback" not in proc.stderr
