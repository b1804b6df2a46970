"""Paddle Lite's ARM kernels under qemu-aarch64: toolchain discovery, evaluation, instruction
counts and ARM-made self-checks (predict.py on a board without paddlelite: tests/test_board.py)."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ppliteformer.arm.toolchain import LITE_ENV, ArmToolchainMissing, ensure_toolchain, missing_parts
from ppliteformer.errors import StageError
from ppliteformer.layout import NB_FILE
from ppliteformer.device.lite_runtime import batch_arrays

from .conftest import REPO, TINY_STRATEGY

pytestmark = pytest.mark.tiny

MISSING = missing_parts()
needs_arm = pytest.mark.skipif(bool(MISSING), reason=f"no ARM toolchain here: {'; '.join(MISSING)}")


def test_a_missing_lite_build_is_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(LITE_ENV, str(tmp_path / "nowhere"))
    missing = missing_parts()
    assert len(missing) >= 1 and str(tmp_path / "nowhere") in missing[0] and LITE_ENV in missing[0]
    with pytest.raises(ArmToolchainMissing, match="build.sh"):
        ensure_toolchain()


def test_a_run_goes_on_without_arm_unless_required(monkeypatch, tmp_path, caplog, corpus_tsv):
    from ppliteformer.config.strategy import load_strategy
    from ppliteformer.pipeline.workflow import arm_toolchain, stage_names

    monkeypatch.setenv(LITE_ENV, str(tmp_path / "nowhere"))
    path = tmp_path / "s.yaml"
    path.write_text(TINY_STRATEGY.format(data=corpus_tsv), encoding="utf-8")
    strategy = load_strategy(path)
    assert arm_toolchain(strategy) is None
    assert "will not be run on ARM kernels" in caplog.text
    assert "arm_evaluate" not in stage_names(strategy)
    path.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "arm: {required: true}\n", encoding="utf-8")
    with pytest.raises(ArmToolchainMissing):
        arm_toolchain(load_strategy(path))


@needs_arm
def test_every_text_of_the_final_artifact_ran_on_arm_kernels_and_matches(tiny_run):
    workdir, report = tiny_run
    teacher = report.artifacts[0]
    metrics = json.loads((workdir / "manifest.json").read_text())["stages"]["arm_evaluate"]["metrics"]
    assert teacher.arm_texts == metrics["test_texts"] == report.data["test"] and teacher.arm_whole_test_split
    assert teacher.max_abs_logit_diff_arm_vs_reference < 1e-4 and teacher.label_agreement_arm_vs_reference == 1
    assert teacher.accuracy_arm == teacher.accuracy
    assert teacher.arm_instructions_per_inference > 100_000 and teacher.arm_instructions_over_teacher == 1
    assert "paddle_lite_arm_kernels_qemu" in teacher.accuracy_verified_by


@needs_arm
def test_instruction_counts_are_deterministic(tiny_run):
    from ppliteformer.arm.emulator import ArmEmulator
    from ppliteformer.bench.latency import synthetic_inputs

    workdir, report = tiny_run
    emulator = ArmEmulator(ensure_toolchain())
    nb = workdir / "convert" / "arm" / NB_FILE
    first, second = (emulator.instructions(nb, synthetic_inputs(1, 48, 100), runs=3) for _ in range(2))
    assert first == second and first["instructions_per_inference"] > 0
    assert first["method"] == "one process, runs 2..3" and "instructions_1_run" not in first
    assert sum(first["split"].values()) == first["instructions_per_inference"]
    assert first["instructions_3_runs"] > 3 * first["instructions_per_inference"]  # plus loading the model


@needs_arm
def test_a_lite_build_whose_run_loop_is_not_recognised_is_counted_without_a_split(tiny_run, monkeypatch):
    """The two-process count (no op marks) agrees with the one-process one, whose split it cannot give."""
    from ppliteformer.arm import emulator as emulator_module
    from ppliteformer.bench.latency import synthetic_inputs

    workdir, _ = tiny_run
    nb, feeds = workdir / "convert" / "arm" / NB_FILE, synthetic_inputs(1, 48, 100)
    marked = emulator_module.ArmEmulator(ensure_toolchain()).instructions(nb, feeds, runs=5)
    monkeypatch.setattr(emulator_module, "loop_page_offset", lambda library: None)
    unmarked = emulator_module.ArmEmulator(ensure_toolchain()).instructions(nb, feeds, runs=5)
    assert unmarked["split"] is None and unmarked["method"] == "count of 5 runs - count of 1 run"
    assert abs(unmarked["instructions_per_inference"] / marked["instructions_per_inference"] - 1) < 0.03


def test_marks_that_do_not_come_to_one_per_op_give_no_split():
    from ppliteformer.arm.op_split import split_from_marks

    ops = ["fc", "gelu", "softmax"]
    # each run's loop head: before each of the 3 ops and at the end; run 2 (from 100 to run 3's start at 200) counts
    marks = [0, 12, 40, 46, 100, 110, 130, 135, 200, 211, 232, 238]
    assert split_from_marks(marks, ops, 3) == {"fc": 10, "matmul": 0, "softmax": 5, "layer_norm": 0, "gelu": 20,
                                               "lookup": 0, "casts/calib": 0, "the rest": 0, "feed/fetch": 65}
    assert split_from_marks(marks[:-1], ops, 3) is None and split_from_marks(marks, ops + ["fc"], 3) is None


@needs_arm
def test_an_x86_nb_on_arm_kernels_is_a_clear_error(tiny_run):
    from ppliteformer.arm.emulator import ArmEmulator

    workdir, _ = tiny_run
    with pytest.raises(StageError, match="could not run .* under qemu"):
        ArmEmulator(ensure_toolchain()).run(workdir / "convert" / "x86" / NB_FILE, [batch_arrays([[1, 5, 2]])])


@needs_arm
def test_non_final_artifacts_run_at_least_min_texts_within_the_budget(tiny_run):
    from ppliteformer.arm.emulator import ArmEmulator, ArmKernelsModel
    from ppliteformer.config.strategy import ArmConfig
    from ppliteformer.pipeline.stages.arm_evaluate import _outputs_within_budget

    workdir, _ = tiny_run
    ids = [[1, 5 + i, 2] for i in range(20)]
    model = ArmKernelsModel(ArmEmulator(ensure_toolchain()), workdir / "convert" / "arm" / NB_FILE, "int64")
    assert len(_outputs_within_budget(model, ids, 0, ArmConfig(min_texts=3, time_budget_s=1e-6))) == 3
    assert len(_outputs_within_budget(model, ids, 0, ArmConfig(min_texts=3, time_budget_s=1e6))) == 20


def test_a_failed_arm_parity_check_fails_the_stage():
    from ppliteformer.config.strategy import Strategy
    from ppliteformer.pipeline.stages.arm_evaluate import _check

    strategy = Strategy(name="t", workdir="w")
    fine = {"texts": 64, "max_abs_logit_diff": 1e-6, "label_agreement": 1.0, "reference_largest_abs_logit": 8.0}
    _check(fine, strategy, "fp32", label="teacher_arm_evaluate")
    with pytest.raises(StageError, match="do not deploy"):
        _check({**fine, "max_abs_logit_diff": 0.2}, strategy, "fp32", label="teacher_arm_evaluate")
    _check({**fine, "max_abs_logit_diff": 0.2}, strategy, "int8", label="qat_arm_evaluate")  # int8: labels rule
    with pytest.raises(StageError, match="simulated int8"):
        _check({**fine, "label_agreement": 0.95}, strategy, "int8", label="qat_arm_evaluate")
    # fp16: within 1% of the largest logit (0.08 here), labels on 99.5%
    _check({**fine, "max_abs_logit_diff": 0.05, "label_agreement": 0.996}, strategy, "fp16", label="d_arm_fp16_evaluate")
    for wrong in ({"max_abs_logit_diff": 0.1}, {"label_agreement": 0.99}):
        with pytest.raises(StageError, match=r"\(fp16\).*0.01 x the largest logit \(8.00e-02\)"):
            _check({**fine, **wrong}, strategy, "fp16", label="d_arm_fp16_evaluate")


@needs_arm
def test_arm_bundle_ships_the_libraries_and_a_self_check_made_on_arm_kernels(tiny_run):
    workdir, _ = tiny_run
    bundle = workdir / "bundle" / "teacher-arm"
    assert (bundle / "lib" / "libppl_lite.so").is_file() and (bundle / "lib" / "libpaddle_light_api_shared.so").is_file()
    check = json.loads((bundle / "selfcheck.json").read_text())
    assert check["made_with"].startswith("paddle_lite_arm_kernels_qemu") and check["atol"] == 1e-3
    x86 = json.loads((workdir / "bundle" / "teacher-x86" / "selfcheck.json").read_text())
    assert [s["text"] for s in x86["samples"]] == [s["text"] for s in check["samples"]]
    assert not (workdir / "bundle" / "teacher-x86" / "lib").exists()


def test_int8_embedding_dequantizes_the_looked_up_rows_within_half_a_step():
    import paddle

    from ppliteformer.models.int8_embedding import Int8Embedding
    from ppliteformer.runtimes.int8_table import dequantize_table

    paddle.seed(3)
    for dim in (8, 10):  # a multiple of four, and one whose codes are padded
        embedding = paddle.nn.Embedding(50, dim, padding_idx=0)
        layer = Int8Embedding.from_float(embedding)
        weight = embedding.weight.numpy()
        step = (weight.max(1) - weight.min(1)) / 255
        ids = np.array([[0, 1, 49, 7], [3, 3, 0, 2]], "int64")
        got = layer(paddle.to_tensor(ids)).numpy()
        assert got.shape == (2, 4, dim)
        assert np.all(got[ids == 0] == 0)  # padding_idx, as the float embedding returns
        table = dequantize_table(layer.table.numpy(), dim)
        np.testing.assert_allclose(got[ids != 0], table[ids[ids != 0]], rtol=0, atol=1e-6)
        error = np.abs(table - weight)[1:]
        assert np.all(error <= step[1:, None] * 0.5 + 1e-6)
        assert layer.table.numpy().nbytes == 50 * (8 + -(-dim // 4) * 4)  # min, max and one byte a value


def _artifact(name, int8, instructions, identity="a55"):
    from ppliteformer.records import ArtifactRecord

    return ArtifactRecord(name=name, int8=int8, arm_instructions_per_inference=instructions, arm_cpu_identity=identity)


@pytest.mark.parametrize("qat_instructions, final", [(4.8e6, "qat"), (5.9e6, "embedding_int8")])
def test_the_final_artifact_follows_the_arm_instruction_count(qat_instructions, final):
    from ppliteformer.report.build import _final_choice

    artifacts = [_artifact("teacher", False, 1.2e8), _artifact("embedding_int8", False, 5.9e6),
                 _artifact("qat", True, qat_instructions)]
    artifacts[-1].arm_instructions_over_source = round(qat_instructions / 5.9e6, 3)
    chosen, reason, precision = _final_choice(artifacts, 0.005)
    assert chosen == final and "a55 CPU identity" in reason
    assert ("does not pay" in reason) == (final != "qat")
    assert precision == ("int8" if final == "qat" else "fp32")


def test_without_arm_counts_the_last_step_is_final():
    from ppliteformer.report.build import _final_choice

    artifacts = [_artifact("teacher", False, None), _artifact("qat", True, None)]
    assert _final_choice(artifacts, 0.005)[:3:2] == ("qat", "int8")


@pytest.mark.parametrize("fp16_instructions, fp16_accuracy, chosen", [
    (4.0e6, 0.850, ("embedding_int8", "fp16")),   # fewer instructions than int8, accuracy kept
    (5.0e6, 0.850, ("qat", "int8")),              # more instructions than int8
    (4.0e6, 0.840, ("qat", "int8")),              # one point below its float program: over fp16_max_drop
])
def test_fp16_is_weighed_like_int8_by_instructions_within_the_accuracy_limit(fp16_instructions, fp16_accuracy,
                                                                              chosen):
    from ppliteformer.report.build import _final_choice

    source = _artifact("embedding_int8", False, 5.9e6)
    source.arm_fp16_instructions_per_inference = fp16_instructions
    source.accuracy_arm_fp16, source.accuracy_arm_fp16_reference = fp16_accuracy, 0.851
    artifacts = [_artifact("teacher", False, 1.2e8), source, _artifact("qat", True, 4.8e6)]
    artifacts[-1].arm_instructions_over_source = round(4.8e6 / 5.9e6, 3)
    name, reason, precision = _final_choice(artifacts, 0.005)
    assert (name, precision) == chosen
    assert "fp16 .nb takes" in reason and (("fp16 is not chosen" in reason) == (precision != "fp16"))
