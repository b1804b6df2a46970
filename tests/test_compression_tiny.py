"""Each compression step for real on the tiny model, checking its effect, not just that it ran."""
import json

import numpy as np
import pytest

from ppliteformer.runtimes.host import DygraphModel, PaddleInferenceModel, logits_over
from ppliteformer.runtimes.lite_convert import REWRITES_FILE
from ppliteformer.models.export_program import program_op_types
from ppliteformer.layout import STRUCTURE_FILE
from ppliteformer.models.structure import load_checkpoint

from .conftest import TINY_STRATEGY, run_written_strategy
from .test_arm import MISSING, needs_arm

pytestmark = pytest.mark.tiny

CHAIN = """
chain: [distill, prune, trim_vocab, embedding_int8, qat]
distill: {layers: 1, hidden_size: 32, heads: 2, ffn_size: 64, epochs: 8, batch_size: 16, learning_rate: 5.0e-3, hidden_loss_weight: 0.1, control: true}
prune: {epochs: 1, importance_batches: 4, control: true}
qat: {epochs: 1}
"""
QUANT_OPS = {"quantize_linear", "dequantize_linear"}


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory, corpus_tsv):
    return run_written_strategy(tmp_path_factory, "chain", TINY_STRATEGY.format(data=corpus_tsv) + CHAIN)


def test_report_lists_every_artifact_with_final_and_final_fp32(chain_run):
    workdir, report = chain_run
    names = [a.name for a in report.artifacts]
    assert names == ["teacher", "distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    qat = report.artifact("qat")
    pays = MISSING or qat.arm_instructions_over_source < 1  # ARM cost decides, where it is measured here
    assert (report.final, report.final_fp32) == ("qat" if pays else "embedding_int8", "trim_vocab")
    for artifact in report.artifacts:
        assert 0 <= artifact.accuracy <= 1 and artifact.nb_bytes_arm > 0
        if not artifact.int8:  # timed in a process of its own: Python + numpy + Lite + model
            assert 20 < artifact.peak_memory_mb < 2000
    assert json.loads((workdir / "report.json").read_text())["final"] == report.final


def test_each_step_reports_its_gain_over_a_control(chain_run):
    from ppliteformer.report.build import LABELS_ONLY_CONTROL
    from ppliteformer.models.structure import layer_widths

    workdir, report = chain_run
    arts = {a.name: a for a in report.artifacts}
    for name in ("distill", "prune"):  # control: true: the architecture trained on the labels alone
        control = report.steps[f"{name}_control"]
        assert arts[name].control == LABELS_ONLY_CONTROL and 0.4 < arts[name].control_accuracy <= 1
        assert arts[name].control_accuracy == control.details["test_accuracy"]
        assert arts[name].gain_over_control == round(arts[name].accuracy - arts[name].control_accuracy, 4)
        assert control.training["history"] and control.parameters == report.steps[name].parameters
    assert layer_widths(load_checkpoint(workdir / "prune_control")) == layer_widths(load_checkpoint(workdir / "prune"))
    assert arts["trim_vocab"].control is None and arts["trim_vocab"].gain_over_control is None
    for name, source in (("embedding_int8", "trim_vocab"), ("qat", "embedding_int8")):  # int8: its fp32 source
        assert arts[name].control.startswith(source) and arts[name].control_accuracy == arts[source].accuracy


def test_distilled_student_agrees_with_the_teacher_more_than_before(chain_run):
    _, report = chain_run
    step = report.steps["distill"]
    assert step.details["dev_agreement_with_teacher_after"] > step.details["dev_agreement_with_teacher_before"]
    assert step.parameters < step.details["teacher_parameters"]


def test_pruned_model_has_fewer_heads_and_a_narrower_ffn(chain_run):
    workdir, report = chain_run
    step = report.steps["prune"].details
    assert step["before"]["heads"] == [2] and step["after"]["heads"] == [1]
    assert step["before"]["ffn"] == [64] and step["after"]["ffn"] == [32]
    structure = json.loads((workdir / "prune" / STRUCTURE_FILE).read_text())
    assert (structure["heads"], structure["ffn"]) == ([1], [32])
    model = load_checkpoint(workdir / "prune")
    layer = model.ernie.encoder.layers[0]
    assert layer.self_attn.q_proj.weight.shape == [32, 16] and layer.linear1.weight.shape == [32, 32]
    assert report.artifacts[2].name == "prune" and report.artifacts[2].latency_ms_x86_lite > 0


def _test_ids(workdir, export_dir):
    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.tasks.seq_data import read_splits
    from ppliteformer.models.training import encode_texts

    return encode_texts(load_tokenizer(str(export_dir)), [e.text for e in read_splits(workdir / "data").test], 48)


def test_trimming_keeps_predictions_identical_and_shrinks_the_nb(chain_run):
    from ppliteformer.models.modeling import load_tokenizer

    workdir, report = chain_run
    step = report.steps["trim_vocab"].details
    assert step["vocab_after"] < step["vocab_before"]
    old_ids = _test_ids(workdir, workdir / "prune_export")
    new_ids = _test_ids(workdir, workdir / "trim_vocab_export")
    unk = load_tokenizer(str(workdir / "trim_vocab_export")).unk_token_id
    inside = [i for i, ids in enumerate(new_ids) if unk not in ids]  # texts inside the kept vocabulary
    assert len(inside) >= 10
    before = logits_over(PaddleInferenceModel(workdir / "prune_export"), [old_ids[i] for i in inside], 0, 8)
    after = logits_over(PaddleInferenceModel(workdir / "trim_vocab_export"), [new_ids[i] for i in inside], 0, 8)
    np.testing.assert_allclose(after, before, atol=1e-5)
    arts = {a.name: a for a in report.artifacts}
    assert arts["trim_vocab"].nb_bytes_arm < arts["prune"].nb_bytes_arm


def test_embedding_int8_runs_on_lite_and_shrinks_the_nb(chain_run):
    workdir, report = chain_run
    arts = {a.name: a for a in report.artifacts}
    assert arts["embedding_int8"].nb_bytes_arm < arts["trim_vocab"].nb_bytes_arm
    lite, inference = arts["embedding_int8"].accuracy_x86_lite, arts["embedding_int8"].accuracy
    assert lite is not None and abs(lite - inference) <= 0.01  # Lite x86 ran it (its own lookup), same answers
    ops = program_op_types(workdir / "embedding_int8_export")
    assert "lookup_table_dequant" in ops  # only the looked-up rows of the int8 table are dequantized
    rewrites = json.loads((workdir / "embedding_int8_convert" / "x86" / REWRITES_FILE).read_text())
    assert rewrites["lookup_table_dequant_as_lookup_table"] == 1  # Lite x86 has no kernel for the op


@needs_arm
def test_every_arm_nb_of_the_chain_ran_on_arm_kernels(chain_run):
    _, report = chain_run
    for artifact in report.artifacts:
        assert artifact.arm_texts >= min(64, report.data["test"]), artifact.name
        assert artifact.arm_instructions_per_inference > 0
        if artifact.int8:
            assert artifact.label_agreement_arm_vs_reference >= 0.99
            assert artifact.arm_reference == "paddle_inference_int8_simulated"
        else:
            assert artifact.max_abs_logit_diff_arm_vs_reference < 1e-4
    final = report.artifacts[-1]
    assert final.arm_whole_test_split and final.arm_texts == report.data["test"]


@needs_arm
def test_int8_embedding_costs_no_more_arm_instructions_than_the_float_one(chain_run):
    _, report = chain_run
    arts = {a.name: a for a in report.artifacts}
    assert arts["embedding_int8"].arm_instructions_per_inference <= \
        arts["trim_vocab"].arm_instructions_per_inference * 1.02


def test_qat_program_has_quant_ops_and_a_smaller_nb_than_float(chain_run):
    workdir, report = chain_run
    ops = set(program_op_types(workdir / "qat"))
    assert QUANT_OPS <= ops
    arts = {a.name: a for a in report.artifacts}
    assert arts["qat"].nb_bytes_arm < arts["trim_vocab"].nb_bytes_arm
    assert arts["qat"].int8 and arts["qat"].latency_ms_x86_lite is None
    assert 0 <= arts["qat"].accuracy_x86_int8_onednn <= 1 and arts["qat"].latency_ms_x86_int8 > 0
    assert arts["qat"].latency_x86_int8["engine"] == "paddle_inference_onednn_int8"
    assert "verified through this proxy" in arts["qat"].accuracy_verified_by
    assert not (workdir / "qat_convert" / "x86").exists()


def test_ptq_calibrates_and_writes_an_int8_program(tmp_path, corpus_tsv, tiny_run):
    import shutil

    from ppliteformer.pipeline.workflow import run_strategy

    teacher_workdir, _ = tiny_run
    workdir = tmp_path / "work"
    shutil.copytree(teacher_workdir, workdir)  # the tiny teacher's stages are reused
    strategy = tmp_path / "ptq.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "chain: [ptq]\nptq: {algo: mse, calibration_size: 32}\n",
                        encoding="utf-8")
    report = run_strategy(strategy, workdir=workdir)
    assert report.steps["ptq"].details["calibration_texts"] == 32
    assert QUANT_OPS <= set(program_op_types(workdir / "ptq"))
    ptq = report.artifacts[1]
    assert ptq.name == "ptq" and ptq.int8 and 0 < ptq.accuracy <= 1
    teacher = PaddleInferenceModel(workdir / "export")
    int8 = PaddleInferenceModel(workdir / "ptq")
    ids = _test_ids(workdir, workdir / "export")
    agree = (logits_over(teacher, ids, 0, 8).argmax(-1) == logits_over(int8, ids, 0, 8).argmax(-1)).mean()
    assert agree > 0.9  # int8 rounding moves logits a little, labels rarely


def test_trimming_a_large_vocabulary_keeps_predictions(tmp_path):
    """A 30k-token vocabulary (pretrained size) trimmed to the tokens some texts use."""
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForSequenceClassification, ErnieTokenizer

    from ppliteformer.models.training import encode_texts
    from ppliteformer.compression.vocab_trim import tokens_to_keep, trim_vocabulary

    words = [f"w{i}" for i in range(30000 - 5)]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = ErnieTokenizer(str(vocab_file))
    rng = np.random.RandomState(0)
    texts = [" ".join(rng.choice(words[:3000], size=8)) for _ in range(50)]
    paddle.seed(0)
    model = ErnieForSequenceClassification(ErnieConfig(vocab_size=30000, hidden_size=32, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=64, num_labels=2))
    model.eval()
    ids = encode_texts(tokenizer, texts, 32)
    before = logits_over(DygraphModel(model), ids, 0, 8)
    keep = tokens_to_keep(tokenizer, ids, 1)
    new_tokenizer = trim_vocabulary(model, tokenizer, keep, tmp_path)
    assert len(new_tokenizer.vocab) == len(keep) < 3000
    new_ids = encode_texts(new_tokenizer, texts, 32)
    np.testing.assert_allclose(logits_over(DygraphModel(model), new_ids, 0, 8), before, atol=1e-5)


def test_run_ends_with_a_complete_bundle_of_the_final_model(chain_run):
    workdir, _ = chain_run
    bundle = workdir / "bundle" / "qat-arm"
    for name in ("model.nb", "vocab.txt", "ppliteformer_meta.json", "predict.py", "selfcheck.json",
                 "run_on_board.py", "run_on_android.py", "README.txt"):
        assert (bundle / name).is_file(), name
    check = json.loads((bundle / "selfcheck.json").read_text())
    made_with = "paddle_inference" if MISSING else "paddle_lite_arm_kernels_qemu"  # ARM kernels where they are here
    assert len(check["samples"]) == 8 and check["made_with"].startswith(made_with)
    assert not list((workdir / "bundle").glob(".*tmp*"))


def test_bundle_self_check_passes_on_x86_and_catches_a_wrong_logit(chain_run, tmp_path):
    import subprocess
    import sys

    from ppliteformer.pipeline.bundle import make_bundle

    workdir, _ = chain_run
    folders = make_bundle(workdir, "distill", tmp_path)
    x86 = next(f for f in folders if f.name == "distill-x86")

    def selfcheck():
        return subprocess.run([sys.executable, "predict.py", "--model", ".", "--selfcheck", "selfcheck.json", "--json"],
                              cwd=x86, capture_output=True, text=True, timeout=120)

    ok = selfcheck()
    assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[-1])["passed"]
    check = json.loads((x86 / "selfcheck.json").read_text())
    check["samples"][0]["logits"][0] += 0.5
    (x86 / "selfcheck.json").write_text(json.dumps(check))
    bad = selfcheck()
    result = json.loads(bad.stdout.splitlines()[-1])
    assert bad.returncode == 1 and not result["passed"] and result["n_passed"] == result["n"] - 1
    bench = subprocess.run([sys.executable, "predict.py", "--model", ".", "--bench", "--repeats", "3", "--json"],
                           cwd=x86, capture_output=True, text=True, timeout=120)
    timing = json.loads(bench.stdout.splitlines()[-1])
    assert bench.returncode == 0 and timing["seq_len"] == 48 and 0 < timing["min_ms"] <= timing["median_ms"]
    end_to_end = timing["end_to_end"]  # tokenizer and softmax included, from a text of max_seq_len tokens
    assert timing["timed"] == "model" and end_to_end["tokens"] == 48 and end_to_end["repeats"] == 3
    assert 0 < end_to_end["min_ms"] <= end_to_end["median_ms"]
