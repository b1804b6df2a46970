"""Each stage for real, on the tiny model: export, opt, Paddle Inference, Paddle Lite."""
import json
import logging

import numpy as np

from ppliteformer.layout import MANIFEST, STAGE_CONFIG
from ppliteformer.layout import NB_FILE
from ppliteformer.runtimes.host import PaddleInferenceModel, logits_over, open_lite
from ppliteformer.tasks.seq_data import read_splits
from ppliteformer.models.export_program import program_op_types
from ppliteformer.device.lite_runtime import INPUT_NAMES
from ppliteformer.device.model_files import META_FILE, VOCAB_FILE
from ppliteformer.pipeline.workflow import run_strategy

from .test_arm import MISSING
import pytest

pytestmark = pytest.mark.tiny


def test_export_has_explicit_inputs_no_dropout_and_its_metadata(tiny_run):
    workdir, _ = tiny_run
    export = workdir / "export"
    ops = program_op_types(export)
    assert "dropout" not in ops
    assert ops.count("feed") == len(INPUT_NAMES)
    meta = json.loads((export / META_FILE).read_text())
    assert meta["inputs"] == list(INPUT_NAMES)
    assert meta["labels"] == ["negative", "positive"] and meta["max_seq_len"] == 48
    assert (export / VOCAB_FILE).is_file()
    assert json.loads((export / STAGE_CONFIG).read_text())["stage"] == "export"


def test_inference_model_reads_the_four_named_inputs(tiny_run):
    workdir, _ = tiny_run
    model = PaddleInferenceModel(workdir / "export")
    assert sorted(model.predictor.get_input_names()) == sorted(INPUT_NAMES)


def test_opt_makes_distinct_arm_and_x86_nb_files(tiny_run):
    workdir, report = tiny_run
    arm, x86 = (workdir / "convert" / t / NB_FILE for t in ("arm", "x86"))
    assert arm.stat().st_size > 10_000 and x86.stat().st_size > 10_000
    assert arm.read_bytes() != x86.read_bytes()
    artifact = report.artifacts[0]
    assert artifact.nb_bytes_arm == arm.stat().st_size and artifact.nb_bytes_x86 == x86.stat().st_size


def test_lite_and_paddle_inference_agree_on_the_test_split(tiny_run):
    workdir, report = tiny_run
    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.models.training import encode_texts

    splits = read_splits(workdir / "data")
    tokenizer = load_tokenizer(str(workdir / "export"))
    ids = encode_texts(tokenizer, [e.text for e in splits.test], 48)
    reference = logits_over(PaddleInferenceModel(workdir / "export"), ids, 0, batch_size=8)
    lite = logits_over(open_lite(workdir / "convert" / "x86" / NB_FILE), ids, 0, batch_size=1)
    assert np.abs(reference - lite).max() < 1e-4
    assert (reference.argmax(-1) == lite.argmax(-1)).mean() >= 0.999
    artifact = report.artifacts[0]
    assert artifact.max_abs_logit_diff_lite_vs_inference < 1e-4
    assert artifact.accuracy_x86_lite == artifact.accuracy


def test_trained_tiny_teacher_learns_something(tiny_run):
    _, report = tiny_run
    assert report.artifacts[0].accuracy > 0.6  # 2 classes, balanced: chance is 0.5


def test_report_json_shape(tiny_run):
    workdir, report = tiny_run
    on_disk = json.loads((workdir / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report.to_json()))
    assert on_disk["teacher"] == on_disk["final"] == on_disk["final_fp32"] == "teacher"
    artifact = on_disk["artifacts"][0]
    assert artifact["name"] == "teacher" and 0.5 < artifact["accuracy"] <= 1
    assert artifact["nb_bytes_arm"] == (workdir / "convert" / "arm" / NB_FILE).stat().st_size
    assert artifact["latency_ms_x86_lite"] == artifact["latency_x86_lite"]["median_ms"] > 0
    assert artifact["times_smaller_arm_vs_teacher"] == artifact["speedup_x86_lite_vs_teacher"] == 1.0


def test_latency_is_also_measured_at_the_median_test_length(tiny_run):
    """The bench length (48 here) is the worst case; a typical request is the test split's median length."""
    import numpy as np

    from ppliteformer.tasks.seq_data import read_splits
    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.report.build import format_table

    workdir, report = tiny_run
    teacher = report.artifacts[0]
    tokenizer = load_tokenizer(str(workdir / "export"))
    lengths = [len(tokenizer(e.text, max_length=48, truncation=True)["input_ids"])
               for e in read_splits(workdir / "data").test]
    assert teacher.median_length_tokens == int(np.median(lengths)) <= 48
    assert teacher.latency_x86_lite["at_median_length"]["seq_len"] == teacher.median_length_tokens
    assert 0 < teacher.latency_ms_at_median_length
    assert f"At the test split's median length ({teacher.median_length_tokens} tokens)" in format_table(report)


def test_second_run_reuses_every_stage(tiny_run, tiny_strategy_file, caplog):
    workdir, report = tiny_run
    before = json.loads((workdir / MANIFEST).read_text())
    caplog.set_level(logging.INFO, logger="ppliteformer")
    again = run_strategy(tiny_strategy_file, workdir=workdir)
    out = caplog.text
    assert out.count("reused") == len(before["stages"]) == (7 if MISSING else 8)  # + arm_evaluate
    assert json.loads((workdir / MANIFEST).read_text()) == before
    assert again.artifacts[0].accuracy == report.artifacts[0].accuracy


def test_the_classical_baseline_is_a_reference_row_scored_on_the_same_test_split(tiny_run):
    from ppliteformer.tasks.seq_baseline import NAME
    from ppliteformer.report.build import format_table

    workdir, report = tiny_run
    baseline = report.baselines[NAME]
    assert baseline["test_texts"] == report.data["test"] and baseline["train_texts"] == report.data["train"]
    assert 0.6 < baseline["accuracy"] <= 1 and baseline["c"] in baseline["c_grid"]
    row = next(line for line in format_table(report).splitlines() if line.startswith(f"({NAME})"))
    assert f"{baseline['accuracy']:.4f}" in row
    assert json.loads((workdir / "report.json").read_text())["baselines"][NAME]["accuracy"] == baseline["accuracy"]
