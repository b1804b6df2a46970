"""The main jobs, as a user runs them: `ppliteformer run strategies/....yaml` (minutes)."""
import json
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO


def _run(strategy: str, workdir, timeout_min: int):
    proc = subprocess.run([sys.executable, "-m", "ppliteformer.cli", "run", REPO / "strategies" / strategy,
                           "--workdir", workdir], capture_output=True, text=True, timeout=timeout_min * 60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads((workdir / "report.json").read_text())


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e") / "baseline"
    return workdir, *_run("baseline.yaml", workdir, 40)


@pytest.mark.slow
def test_baseline_strategy_end_to_end(baseline_run):
    _, proc, report = baseline_run
    teacher = report["artifacts"][0]
    # Measured 0.8249 here with 1.0 epochs (0.8278 with 1.25; README); majority class is 0.52, char n-gram logistic regression 0.84.
    assert teacher["accuracy"] >= 0.80
    assert teacher["accuracy_x86_lite"] == pytest.approx(teacher["accuracy"], abs=0.001)
    assert teacher["max_abs_logit_diff_lite_vs_inference"] < 1e-4
    assert teacher["nb_bytes_arm"] > 1e6 and teacher["latency_ms_x86_lite"] > 0
    assert report["data"]["test"] > 1700
    assert "teacher" in proc.stdout and "Lite x86 latency" in proc.stdout


@pytest.mark.slow
def test_full_mobile_recipe_meets_its_size_and_accuracy_targets(baseline_run, tmp_path):
    """The issue's targets that are not timings (those live in benchmarks/full_recipe.json)."""
    baseline_dir, _, _ = baseline_run
    workdir = tmp_path / "full_mobile"
    shutil.copytree(baseline_dir, workdir)  # same data and teacher config: those stages are reused
    proc, report = _run("full_mobile.yaml", workdir, 40)
    assert "[teacher] reused" in proc.stdout
    arts = {a["name"]: a for a in report["artifacts"]}
    teacher, qat = arts[report["teacher"]], arts["qat"]
    assert report["final_fp32"] == "trim_vocab"
    # With a board's kernels (a55 identity, root here) int8 pays on ARM (measured 0.81x its float source) ...
    assert qat["arm_instructions_over_source"] < 1
    assert qat["arm_whole_test_split"] and qat["label_agreement_arm_vs_reference"] >= 0.99
    assert qat["accuracy_arm"] >= teacher["accuracy"] - 0.01  # the int8 kernels' own accuracy
    assert arts["embedding_int8"]["arm_instructions_per_inference"] <= \
        1.02 * arts["trim_vocab"]["arm_instructions_per_inference"]
    assert teacher["nb_bytes_arm"] / qat["nb_bytes_arm"] >= 16
    assert qat["accuracy"] >= teacher["accuracy"] - 0.01
    assert qat["accuracy_x86_int8_onednn"] >= teacher["accuracy"] - 0.02  # real int8 kernels
    # ... and embedding_int8's fp16 .nb pays more (measured 4.62 M against 4.77 M), so it is the final model
    final = arts["embedding_int8"]
    assert (report["final"], report["final_precision"]) == ("embedding_int8", "fp16"), report["final_reason"]
    assert final["arm_fp16_instructions_per_inference"] < qat["arm_instructions_per_inference"]
    assert final["arm_fp16_texts"] == report["data"]["test"] and final["label_agreement_arm_fp16_vs_reference"] >= 0.995
    assert final["accuracy_arm_fp16"] >= final["accuracy_arm_fp16_reference"] - 0.005
    for target in ("arm", "arm_fp16"):
        assert (workdir / "bundle" / f"embedding_int8-{target}" / "selfcheck.json").is_file()
    for name in ("distill", "prune"):  # control: true in full_mobile.yaml: the labels-only control was trained
        assert 0.5 < arts[name]["control_accuracy"] <= 1 and arts[name]["gain_over_control"] is not None
    assert arts["qat"]["control_accuracy"] == arts["embedding_int8"]["accuracy"]
    assert 0.5 < report["baselines"]["tfidf_char_1_2gram_logreg"]["accuracy"] <= 1
