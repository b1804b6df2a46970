"""PaddleSlim ACT configs, unmodified: translated onto the chain, ACT's silent behaviours made loud."""
from __future__ import annotations

import textwrap

import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ConfigError

from .conftest import REPO

ACT_EXAMPLES = sorted((REPO / "strategies" / "act").glob("*.yaml"))
# The shapes of PaddleSlim 2.6's own example configs (example/auto_compression/...), with their dataset names.
PADDLESLIM_AFQMC = """
Global:
  model_dir: ./afqmc
  model_filename: inference.pdmodel
  params_filename: inference.pdiparams
  task_name: afqmc
  dataset: clue
  batch_size: 16
  max_seq_length: 128
TransformerPrune:
  pruned_ratio: 0.25
HyperParameterOptimization:
Distillation:
Quantization:
TrainConfig:
  epochs: 6
  eval_iter: 1070
  learning_rate: 2.0e-5
  optimizer_builder:
    optimizer:
      type: AdamW
    weight_decay: 0.01
  origin_metric: 0.7403
"""
PADDLESLIM_HF_SST2 = """
Global:
  input_names: ['x0', 'x1', 'x2']
  model_dir: ./x2paddle_sst2
  model_filename: model.pdmodel
  params_filename: model.pdiparams
  model_type: bert-base-cased
  task_name: sst-2
  dataset: glue
  batch_size: 1
  max_seq_length: 128
  padding: max_length
  return_attention_mask: True
TrainConfig:
  epochs: 3
  eval_iter: 3367
  learning_rate: 1.0e-6
  optimizer_builder:
    optimizer:
      type: AdamW
    weight_decay: 0.01
  origin_metric: 0.9163
"""


def _load(tmp_path, text: str, name: str = "act.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_strategy(path)


def _error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return str(caught.value)


@pytest.mark.unit
def test_three_act_examples_are_committed_and_translate():
    assert len(ACT_EXAMPLES) == 3
    chains = {p.stem: load_strategy(p) for p in ACT_EXAMPLES}
    for strategy in chains.values():
        assert strategy.teacher.source == "work/baseline/export" and strategy.teacher.train is False
        assert strategy.teacher.expected_dev_accuracy == pytest.approx(0.8111)
        assert strategy.act_translation[-1].startswith("chain: ")
    assert chains["prune_distill_ptq"].chain == ("prune", "ptq")
    assert chains["prune_distill_ptq"].steps["prune"].head_keep_ratio == pytest.approx(0.75)
    assert chains["prune_distill_ptq"].steps["prune"].learning_rate == pytest.approx(5e-4)
    assert chains["auto"].chain == ("prune", "qat")
    assert chains["quant_post"].chain == ("ptq",)
    assert chains["quant_post"].steps["ptq"].calibration_size == 16 * 16


@pytest.mark.unit
def test_paddleslim_dataset_names_ask_for_a_local_file(tmp_path):
    for text, name in ((PADDLESLIM_AFQMC, "clue"), (PADDLESLIM_HF_SST2, "glue")):
        message = _error(tmp_path, text)
        assert f"Global.dataset: '{name}'" in message and ".tsv or .jsonl" in message


@pytest.mark.unit
def test_paddleslim_configs_translate_once_given_a_local_file(tmp_path, corpus_tsv):
    afqmc = _load(tmp_path, PADDLESLIM_AFQMC.replace("dataset: clue", f"dataset: {corpus_tsv}"))
    assert afqmc.chain == ("prune", "ptq") and afqmc.data.source == str(corpus_tsv)
    assert afqmc.steps["prune"].epochs == 6 and afqmc.steps["prune"].batch_size == 16
    assert afqmc.teacher.expected_dev_accuracy == pytest.approx(0.7403)
    assert afqmc.teacher.source == "./afqmc" and afqmc.teacher.model_filename == "inference.pdmodel"
    lines = "\n".join(afqmc.act_translation)
    assert "ACT 2.3 / 2.4 run these as post-training quantization with a search" in lines
    sst2 = _load(tmp_path, PADDLESLIM_HF_SST2.replace("dataset: glue", f"dataset: {corpus_tsv}"))
    lines = "\n".join(sst2.act_translation)
    assert sst2.chain == ("prune", "qat") and "warning: (no strategy section)" in lines
    for key in ("input_names", "padding", "model_type", "return_attention_mask"):
        assert f"Global.{key}:" in lines and "not used" in lines


# PaddleSlim's example/auto_compression/nlp/configs/uie/uie_base.yaml, keys as there.
PADDLESLIM_UIE = """
Global:
  model_dir: ./UIE
  model_filename: inference.pdmodel
  params_filename: inference.pdiparams
  batch_size: 1
  max_seq_length: 512
TrainConfig:
  epochs: 200
Quantization:
  use_pact: false
  quantize_op_types: [matmul, matmul_v2]
Distillation:
  alpha: 1.0
  loss: l2
"""


@pytest.mark.unit
def test_act_translation_faults_found_by_running_paddleslims_own_configs(tmp_path, corpus_tsv):
    """Each found by running one of PaddleSlim's example configs (tnews, afqmc, uie_base, cola, sts-b)."""
    tnews = _load(tmp_path, f"Global:\n  model_dir: TNEWS\n  model_filename: infer.pdmodel\n  dataset: {corpus_tsv}\n")
    assert tnews.teacher.source == "./TNEWS" and tnews.teacher.model_filename == "infer.pdmodel"  # a path, not a hub name
    assert _load(tmp_path, f"Global:\n  model_dir: ./TNEWS\n  dataset: {corpus_tsv}\n").teacher.source == "./TNEWS"
    assert "information extraction (UIE" in _error(tmp_path, PADDLESLIM_UIE)
    assert "Global.dataset: missing" in _error(tmp_path, PADDLESLIM_UIE.replace("./UIE", "./model"))
    stsb = f"Global:\n  model_dir: ./m\n  task_name: sts-b\n  dataset: {corpus_tsv}\n"
    assert "'sts-b' is a regression task" in _error(tmp_path, stsb)
    ner = stsb.replace("sts-b", "msra_ner")
    assert "ppliteformer serves as task token_cls but not from an ACT config" in _error(tmp_path, ner)
    cola = _load(tmp_path, f"Global:\n  model_dir: ./m\n  task_name: cola\n  dataset: {corpus_tsv}\n"
                           "TrainConfig:\n  origin_metric: 0.55\n")
    assert cola.teacher.expected_dev_accuracy == 0 and "0.55 is a Matthews correlation for cola" in \
        "\n".join(cola.act_translation)
    pact = _load(tmp_path, f"Global:\n  model_dir: ./m\n  dataset: {corpus_tsv}\nQuantAware:\n  use_pact: true\n"
                           "Distillation:\n")
    assert "warning: QuantAware.use_pact: PACT" in "\n".join(pact.act_translation)


@pytest.mark.unit
@pytest.mark.parametrize("extra, expected", [
    ("QuantPost:\n  quantize_op_types: [conv2d, depthwise_conv2d]\n", "QuantPost.quantize_op_types: ['conv2d',"),
    ("Prune:\n  ratio: 0.5\n", "Prune: not an ACT section: PaddleSlim 2.6's ACT would drop it"),
    ("ChannelPrune:\n  pruned_ratio: 0.5\n", "ChannelPrune: not supported: it prunes conv channels"),
    ("QuantAware:\n  quantize_op_types: [conv2d, depthwise_conv2d]\nDistillation:\n",
     "quantizes nothing in a Transformer"),
    ("QuantAware:\nQuantPost:\n", "QuantAware and QuantPost: two int8 strategies"),
    ("QuantPost:\n  algo: hist\n  bogus: 1\n", "QuantPost.bogus: not a key of ACT's QuantPost"),
    ("QuantAware:\nDistillation:\n  teacher_model_dir: ./elsewhere\n", "a teacher other than Global.model_dir"),
])
def test_what_act_would_drop_or_misrun_is_an_error(tmp_path, corpus_tsv, extra, expected):
    base = f"Global:\n  model_dir: ./model\n  dataset: {corpus_tsv}\n"
    assert expected in _error(tmp_path, base + extra)


@pytest.mark.unit
def test_quant_aware_without_distillation_is_said(tmp_path, corpus_tsv):
    strategy = _load(tmp_path, f"Global:\n  model_dir: ./model\n  dataset: {corpus_tsv}\nQuantAware:\n  weight_bits: 8\n")
    assert strategy.chain == ("qat",)
    assert any(line.startswith("warning: QuantAware: without a Distillation section ACT 2.6 skips QAT silently")
               for line in strategy.act_translation)


@pytest.mark.unit
def test_train_config_settings_that_cannot_be_honoured_are_errors(tmp_path, corpus_tsv):
    base = f"Global:\n  model_dir: ./model\n  dataset: {corpus_tsv}\nQuantAware:\nDistillation:\n"
    assert "Give TrainConfig.epochs instead" in _error(tmp_path, base + "TrainConfig:\n  train_iter: 100\n")
    assert "ppliteformer trains with AdamW" in _error(
        tmp_path, base + "TrainConfig:\n  optimizer_builder:\n    optimizer:\n      type: SGD\n")


def _hashes(folder) -> dict:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _as_user_export(tiny_run, folder):
    """The tiny teacher's exported inference model, alone in a folder as a Paddle user would have it."""
    import shutil

    workdir, _ = tiny_run
    folder.mkdir()
    for name in ("model.pdmodel", "model.pdiparams", "vocab.txt"):
        shutil.copy(workdir / "export" / name, folder / name)
    return folder


@pytest.mark.tiny
@pytest.mark.parametrize("example", ACT_EXAMPLES, ids=[p.stem for p in ACT_EXAMPLES])
def test_each_act_example_runs_through_the_console_script(example, tiny_run, corpus_tsv, tmp_path):
    """The committed example, unmodified but for where its model and data are (the tiny teacher's
    export and the corpus sample) and the tiny teacher's length; the user's model folder is not written."""
    import subprocess
    import sys
    from pathlib import Path

    model_dir = _as_user_export(tiny_run, tmp_path / "user_model")
    before = _hashes(model_dir)
    text = (example.read_text(encoding="utf-8").replace("work/baseline/export", str(model_dir))
            .replace("dataset: builtin", f"dataset: {corpus_tsv}").replace("max_seq_length: 128", "max_seq_length: 48")
            .replace("  origin_metric: 0.8111\n", ""))  # the tiny teacher saw this split's dev texts
    config = tmp_path / example.name
    config.write_text(text, encoding="utf-8")
    script = Path(sys.executable).parent / "ppliteformer"
    proc = subprocess.run([str(script), "run", str(config), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "a PaddleSlim ACT config, translated:" in proc.stdout and "  chain: " in proc.stdout
    assert "teacher: rebuilt from the inference model" in proc.stdout
    import json

    from ppliteformer.records import Report

    report = Report.from_json(json.loads((tmp_path / "work" / "report.json").read_text()))
    assert [a.name for a in report.artifacts] == ["teacher", *load_strategy(config).chain]
    assert report.artifacts[-1].accuracy > 0.5
    assert _hashes(model_dir) == before


@pytest.mark.tiny
def test_origin_metric_far_from_the_teacher_stops_before_compressing(tiny_run, corpus_tsv, tmp_path):
    from ppliteformer.errors import StageError
    from ppliteformer.pipeline.workflow import run_strategy

    model_dir = _as_user_export(tiny_run, tmp_path / "user_model")
    config = tmp_path / "act.yaml"
    config.write_text(f"Global:\n  model_dir: {model_dir}\n  dataset: {corpus_tsv}\n  max_seq_length: 48\n"
                      "QuantPost:\n  batch_nums: 2\nTrainConfig:\n  origin_metric: 0.3\n", encoding="utf-8")
    with pytest.raises(StageError, match=r"expected_dev_accuracy \(ACT's origin_metric\) says 0.3000"):
        run_strategy(config, workdir=tmp_path / "work")
    assert not (tmp_path / "work" / "ptq").exists()


@pytest.mark.unit
def test_distillation_alone_is_said_to_shrink_nothing_in_act(tmp_path, corpus_tsv):
    strategy = _load(tmp_path, f"Global:\n  model_dir: ./model\n  dataset: {corpus_tsv}\nDistillation:\n")
    assert strategy.chain == ("prune", "qat")
    assert any(line.startswith("warning: Distillation (alone): ACT would only fine-tune the model against itself")
               for line in strategy.act_translation)


@pytest.mark.unit
@pytest.mark.parametrize("extra, expected", [
    ("  batch_size: sixteen\nQuantAware:\nDistillation:\n", "Global.batch_size: expected a positive whole number"),
    ("QuantPost:\n  batch_nums: ten\n", "QuantPost.batch_nums: expected a positive whole number"),
    ("QuantAware:\n  quantize_op_types: matmul_v2\nDistillation:\n", "quantize_op_types: expected a list"),
    ("QuantAware:\nDistillation:\nTrainConfig:\n  optimizer_builder: SGD\n", "ppliteformer trains with AdamW"),
])
def test_malformed_act_values_are_one_clear_error(tmp_path, corpus_tsv, extra, expected):
    """Values of the wrong type are ConfigErrors naming the ACT key, not a Python traceback."""
    assert expected in _error(tmp_path, f"Global:\n  model_dir: ./model\n  dataset: {corpus_tsv}\n" + extra)
