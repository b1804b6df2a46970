"""fp16 artifacts (#20 item 2): opt --enable_fp16 for every float artifact, run on the fp16 Lite build's
ARM kernels under qemu with the parity rule of fp16's precision, counted at the bench and the median
length, weighed for the final choice; the CPU check that keeps an fp16 .nb off an ARMv8.0 core
(on the emulated board: tests/test_board.py)."""
import struct

import pytest

from ppliteformer.arm.toolchain import missing_parts

pytestmark = pytest.mark.tiny

MISSING = missing_parts() + missing_parts(fp16=True)
needs_fp16 = pytest.mark.skipif(bool(MISSING), reason=f"no fp16 ARM toolchain here: {'; '.join(MISSING)}")


@needs_fp16
def test_every_float_artifact_has_an_fp16_nb_checked_on_the_fp16_kernels(pair_run):
    from ppliteformer.device.lite_runtime import nb_uses_fp16
    from ppliteformer.layout import convert_folder

    workdir, report = pair_run
    floats = [a for a in report.artifacts if not a.int8 and a.name != "teacher"]
    assert [a.name for a in floats] == ["distill", "prune", "trim_vocab", "embedding_int8"]
    for a in floats:
        assert a.arm_fp16_texts >= 32 and a.label_agreement_arm_fp16_vs_reference >= 0.995, a.name
        assert 0 < a.max_abs_logit_diff_arm_fp16_vs_reference < 0.05, a.name  # fp16 rounding: not zero, not large
        assert a.accuracy_arm_fp16 is not None and a.nb_bytes_arm_fp16 > 0
        assert a.arm_fp16_instructions_per_inference > 0 and a.arm_fp16_instructions_over_fp32 is not None
        assert "paddle_lite_arm_fp16_kernels_qemu" in a.accuracy_verified_by
        folder = convert_folder(workdir, a.name)
        assert nb_uses_fp16(folder / "arm_fp16" / "model.nb") and not nb_uses_fp16(folder / "arm" / "model.nb")
    for skipped in ("qat", "teacher"):  # int8; the reference a chain compresses, never shipped
        assert report.artifact(skipped).accuracy_arm_fp16 is None
        assert not (convert_folder(workdir, skipped) / "arm_fp16").exists()
    assert report.final_precision in ("fp32", "int8", "fp16") and "fp16 .nb takes" in report.final_reason


@needs_fp16
def test_arm_instructions_are_counted_at_the_bench_and_the_median_length(slu_run, pair_run):
    _, utterances = slu_run
    for a in utterances.artifacts:  # ATIS utterances: far shorter than the bench length
        assert a.arm_instructions["seq_len"] == 48 and a.median_length_tokens < 48
        assert 0 < a.arm_instructions_at_median_length < a.arm_instructions_per_inference, a.name
    _, pairs = pair_run
    for a in pairs.artifacts:  # pairs of review halves fill the 48 tokens: one length, counted once
        assert a.median_length_tokens == 48 and a.arm_instructions_at_median_length == a.arm_instructions_per_inference
        if not a.int8 and a.name != "teacher":
            assert a.arm_fp16_instructions_at_median_length == a.arm_fp16_instructions_per_inference > 0


def _auxv(path, hwcap: int):
    path.write_bytes(struct.pack("<6Q", 6, 4096, 16, hwcap, 0, 0))  # AT_PAGESZ, AT_HWCAP, AT_NULL
    return path


def test_the_cpu_check_reads_fp16_from_hwcap_else_cpuinfo(tmp_path):
    from ppliteformer.device.lite_runtime import FP16_HWCAPS, cpu_fp16_features

    a55 = _auxv(tmp_path / "a55", 0xFF | FP16_HWCAPS["fphp"] | FP16_HWCAPS["asimdhp"])
    a53 = _auxv(tmp_path / "a53", 0xFF)
    assert cpu_fp16_features(a55, tmp_path / "none") == {"fphp", "asimdhp"}
    assert cpu_fp16_features(a53, tmp_path / "none") == set()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes fphp asimdhp cpuid asimdrdm\n")
    assert cpu_fp16_features(tmp_path / "no_auxv", cpuinfo) == {"fphp", "asimdhp"}
    assert cpu_fp16_features(tmp_path / "no_auxv", tmp_path / "none") == set()


def test_an_fp16_target_without_the_fp16_build_is_left_out_or_named(tmp_path, monkeypatch, tiny_strategy_file):
    from ppliteformer.config.strategy import load_strategy
    from ppliteformer.errors import StageError
    from ppliteformer.pipeline.workflow import arm_toolchain, stage_names

    monkeypatch.setenv("PPLITEFORMER_LITE_ARM_FP16", str(tmp_path / "no_such_build"))
    text = tiny_strategy_file.read_text() + "convert: {targets: [arm, x86, arm_fp16]}\n"
    (tmp_path / "s.yaml").write_text(text)
    names = stage_names(load_strategy(tmp_path / "s.yaml"))
    assert "arm_fp16_evaluate" not in names and "convert" in names
    (tmp_path / "r.yaml").write_text(text + "arm: {required: true}\n")
    with pytest.raises(StageError, match="arm.lite_dir_fp16.*FP16=ON"):
        arm_toolchain(load_strategy(tmp_path / "r.yaml"), fp16=True)


def _assert_split(split: dict, total: float, where: str) -> None:
    from ppliteformer.arm.op_split import GROUP_NAMES, OUTSIDE

    assert split and tuple(split) == GROUP_NAMES, where
    assert sum(split.values()) == total, f"{where}: the split does not sum to the count"
    assert split["fc"] > 0 and split["layer_norm"] > 0 and split["lookup"] > 0, where
    # feed and fetch: a few thousand instructions, whatever the model (a tiny one's 1-2%)
    assert 0 <= split[OUTSIDE] < 0.05 * total, f"{where}: the op marks left {split[OUTSIDE]} of {total} uncounted"


@needs_fp16
def test_every_arm_count_is_split_by_op_type_at_both_lengths_and_identities(slu_run, pair_run):
    """#20 item 1: each arm .nb's count at the bench and the median length, split by the op types Lite ran;
    the A55's kernels and the generic ones counted apart (int8 fc differs: dotprod); fp16 pays for casts."""
    for _, report in (slu_run, pair_run):
        for a in report.artifacts:
            for length, total in (("bench", a.arm_instructions_per_inference),
                                  ("median", a.arm_instructions_at_median_length)):
                _assert_split(a.arm_split[length], total, f"{a.name} arm at {length}")
                if a.arm_fp16_split:
                    fp16_total = (a.arm_fp16_instructions_per_inference if length == "bench"
                                  else a.arm_fp16_instructions_at_median_length)
                    _assert_split(a.arm_fp16_split[length], fp16_total, f"{a.name} arm_fp16 at {length}")
                    assert a.arm_fp16_split[length]["casts/calib"] > 0, "opt's casts around layer_norm and gelu"
            assert a.arm_generic_instructions_per_inference > 0 and a.arm_generic_instructions_at_median_length > 0
    qat = pair_run[1].artifact("qat")
    assert qat.arm_generic_instructions_per_inference > qat.arm_instructions_per_inference, \
        "int8 fc on the A55's dotprod kernels takes fewer instructions than on the generic ones"
    assert any(a.arm_fp16_split for a in pair_run[1].artifacts)
