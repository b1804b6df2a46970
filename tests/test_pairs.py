"""Sentence pairs: a text classifier with two texts in ([CLS] a [SEP] b [SEP], token type 1 for b)
through data, the whole chain, every runtime, the ARM kernels and the bundle's predict.py."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ppliteformer.arm.toolchain import missing_parts
from ppliteformer.errors import DataError


@pytest.mark.unit
@pytest.mark.parametrize("name, content", [
    ("p.tsv", "text_a\ttext_b\tlabel\n好\t很好\tsame\n差\t好\tdifferent\n"),
    ("p.tsv", "好\t很好\tsame\n差\t好\tdifferent\n"),
    ("p.jsonl", '{"text_a": "好", "text_b": "很好", "label": "same"}\n{"text_a": "差", "text_b": "好", "label": 0}\n'),
    ("p.jsonl", '{"sentence1": "好", "sentence2": "很好", "label": "same"}\n'
                '{"sentence1": "差", "sentence2": "好", "label": "different"}\n'),
])
def test_pair_files_are_read_as_pairs(tmp_path, name, content):
    from ppliteformer.tasks.seq_data import load_file

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    examples = load_file(path)
    assert [(e.text, e.text_b) for e in examples] == [("好", "很好"), ("差", "好")]
    assert examples[0].label == "same"


@pytest.mark.unit
@pytest.mark.parametrize("name, content, message", [
    ("m.tsv", "好\tpositive\n差\t好\tdifferent\n", "line 2: expected 2 tab-separated columns, as the rows before"),
    ("m.jsonl", '{"text": "好", "label": "p"}\n{"text_a": "差", "text_b": "好", "label": "s"}\n',
     "line 2: a sentence pair after single texts"),
    ("m.jsonl", '{"text_a": "差", "label": "s"}\n', "keys 'text_a', 'text_b', 'label'"),
    ("m.tsv", "好\t \tsame\n", "line 1: the second text is empty"),
])
def test_a_pair_file_of_the_wrong_shape_is_one_error_naming_the_line(tmp_path, name, content, message):
    from ppliteformer.tasks.seq_data import load_file

    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_file(path)


@pytest.mark.unit
def test_builtin_pairs_keep_every_review_in_one_split_and_balance_the_labels():
    """Reviews are split first and cut into halves within their split."""
    from ppliteformer.tasks.seq_data import PAIR_LABELS, builtin_pair_splits

    splits = builtin_pair_splits((0.8, 0.1, 0.1), seed=42)
    # the reviews that "same" pairs were cut from (two reviews may share a half, such as a hotel's stock reply)
    texts = {name: {e.text + e.text_b for e in getattr(splits, name) if e.label == "same"}
             for name in ("train", "dev", "test")}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["dev"] and not texts["dev"] & texts["test"]
    assert splits.labels == PAIR_LABELS and splits.pairs and len(splits.test) > 1500  # reviews of 16+ characters
    same = sum(e.label == "same" for e in splits.train) / len(splits.train)
    assert 0.45 < same < 0.55


@pytest.mark.unit
def test_the_classical_baseline_reads_both_texts_of_a_pair():
    """On pairs whose label is whether the two texts share a word, a baseline blind to the second text
    scores at chance; ours (both texts and their product) must learn it."""
    from ppliteformer.tasks.seq_baseline import tfidf_logreg
    from ppliteformer.tasks.seq_data import DatasetSplits, Example

    rng = np.random.RandomState(0)
    words = [chr(0x4e00 + i) for i in range(40)]

    def pairs(n):
        out = []
        for _ in range(n):
            a, same = rng.choice(words), rng.rand() < 0.5
            b = a if same else rng.choice([w for w in words if w != a])
            out.append(Example(f"{a}x", "same" if same else "different", f"y{b}"))
        return out

    splits = DatasetSplits(train=pairs(1500), dev=pairs(200), test=pairs(300), labels=("different", "same"), stats={})
    assert tfidf_logreg(splits)["accuracy"] > 0.9


@pytest.mark.tiny
def test_every_runtime_receives_the_second_texts_token_types(pair_run):
    """The same ids with token type 0 everywhere give other logits: the types reach the model on
    Paddle Inference and Lite x86, and every artifact agrees across runtimes on real pair inputs."""
    from ppliteformer.tasks.seq_data import read_splits
    from ppliteformer.device.lite_runtime import batch_arrays
    from ppliteformer.layout import DATA_STAGE, NB_FILE
    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.runtimes.host import PaddleInferenceModel, open_lite
    from ppliteformer.tasks.seq_data import encode_examples

    workdir, report = pair_run
    examples = read_splits(workdir / DATA_STAGE).test[:16]
    ids = encode_examples(load_tokenizer(str(workdir / "export")), examples, 48)
    typed = batch_arrays(ids)
    assert typed["token_type_ids"].sum() > 0
    untyped = dict(typed, token_type_ids=np.zeros_like(typed["token_type_ids"]))
    for model in (PaddleInferenceModel(workdir / "export", threads=1), open_lite(workdir / "convert" / "x86" / NB_FILE)):
        assert np.abs(model.run(typed)[0] - model.run(untyped)[0]).max() > 1e-4
    if not missing_parts():  # every arm .nb ran the test pairs on the ARM kernels, within the parity rule
        for artifact in report.artifacts:
            assert artifact.arm_texts > 0 and (artifact.int8 or artifact.label_agreement_arm_vs_reference == 1.0)
            assert artifact.max_abs_logit_diff_arm_vs_reference < (0.25 if artifact.int8 else 1e-4)


@pytest.mark.tiny
def test_a_pair_bundle_predicts_pairs_and_refuses_a_lone_text(pair_run):
    workdir, report = pair_run
    bundle = workdir / "bundle" / "trim_vocab-x86"
    if not bundle.is_dir():
        from ppliteformer.pipeline.bundle import make_bundle

        make_bundle(workdir, "trim_vocab")
    check = json.loads((bundle / "selfcheck.json").read_text())
    assert all("text_pair" in sample for sample in check["samples"])
    predict = [sys.executable, str(bundle / "predict.py"), "--model", str(bundle)]
    done = subprocess.run(predict + ["--selfcheck", str(bundle / "selfcheck.json")], capture_output=True, text=True)
    assert done.returncode == 0 and "passed: 8/8" in done.stdout, done.stderr
    pair = subprocess.run(predict + ["--text", "质量很好", "--text-pair", "太差了", "--json"], capture_output=True,
                          text=True)
    answer = json.loads(pair.stdout.splitlines()[-1])
    assert pair.returncode == 0 and answer["text_pair"] == "太差了" and answer["label"] in ("different", "same")
    alone = subprocess.run(predict + ["--text", "质量很好"], capture_output=True, text=True)
    assert alone.returncode == 2 and "sentence pairs" in alone.stderr and "Traceback" not in alone.stderr
    assert json.loads((workdir / "export" / "ppliteformer_meta.json").read_text())["text_pair"] is True


@pytest.mark.tiny
def test_a_paddleslim_pair_config_runs_as_a_pair_task(pair_run, tmp_path):
    """PaddleSlim's afqmc config shape, unmodified but for a local pair file, on the pair run's exported teacher."""
    workdir, _ = pair_run
    pairs = json.loads((workdir / "data" / "stage_config.json").read_text())["config"]["source"]  # the run's file
    config = tmp_path / "afqmc.yaml"
    config.write_text(f"Global:\n  model_dir: {workdir / 'export'}\n  model_filename: model.pdmodel\n"
                      f"  params_filename: model.pdiparams\n  task_name: afqmc\n  dataset: {pairs}\n"
                      "  batch_size: 16\n  max_seq_length: 48\nQuantPost:\n  batch_nums: 2\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ppliteformer.cli", "run", str(config), "--workdir",
                           str(tmp_path / "work")], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((tmp_path / "work" / "export" / "ppliteformer_meta.json").read_text())
    assert meta["text_pair"] is True and meta["labels"] == ["different", "same"]
    from ppliteformer.tasks.seq_data import read_splits
    from ppliteformer.models.modeling import load_tokenizer
    from ppliteformer.runtimes.host import PaddleInferenceModel, logits_over
    from ppliteformer.tasks.seq_data import encode_examples

    test = read_splits(tmp_path / "work" / "data").test
    assert all(e.text_b for e in test)
    ids = encode_examples(load_tokenizer(str(workdir / "export")), test, 48)
    original = logits_over(PaddleInferenceModel(workdir / "export", threads=1), ids, 0, batch_size=16).argmax(-1)
    expected = float(np.mean([meta["labels"][i] == e.label for i, e in zip(original, test)]))
    report = json.loads((tmp_path / "work" / "report.json").read_text())
    teacher = next(a for a in report["artifacts"] if a["name"] == "teacher")
    assert teacher["accuracy"] == pytest.approx(expected)  # the rebuilt teacher is the exported one, on pairs
