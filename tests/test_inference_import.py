"""An exported inference model (.pdmodel + .pdiparams + vocab.txt) as the teacher: rebuilt, then trusted
only because it reproduces the program's own logits."""
from __future__ import annotations

import shutil

import pytest

from ppliteformer.errors import ModelFileError

from .test_families import FAMILIES, save_family_model

TEXTS = ["很好的东西", "不喜欢这个", "质量一般般吧"]


def export_as_paddlenlp_does(model, folder, vocab_file):
    """paddle.jit.save with the two inputs PaddleNLP's export scripts give (no position ids, no mask)."""
    import paddle

    model.eval()
    spec = [paddle.static.InputSpec([None, None], "int64", name) for name in ("input_ids", "token_type_ids")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec), str(folder / "inference"))
    shutil.copy(vocab_file, folder / "vocab.txt")
    return folder


@pytest.mark.tiny
@pytest.mark.parametrize("name, config_class, model_class", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_each_family_is_rebuilt_with_the_programs_logits(name, config_class, model_class, tmp_path):
    import paddlenlp.transformers as transformers

    from ppliteformer.models.inference_import import LOGITS_ATOL, rebuild_from_inference_model

    save_family_model(name, config_class, model_class, tmp_path / "saved", TEXTS)
    original = getattr(transformers, model_class).from_pretrained(str(tmp_path / "saved"))
    folder = export_as_paddlenlp_does(original, tmp_path / "export", tmp_path / "saved" / "vocab.txt")
    model, diff = rebuild_from_inference_model(folder)
    assert diff <= LOGITS_ATOL
    assert type(model).__name__ == ("RobertaForSequenceClassification" if "roberta" in name
                                    else "ErnieForSequenceClassification")
    assert model.config.num_labels == 3 and model.config.num_hidden_layers == 2
    assert bool(getattr(model.config, "use_task_id", False)) == bool(original.config.get("use_task_id", False))


@pytest.mark.tiny
def test_a_program_that_is_not_a_classifier_is_refused(tmp_path):
    import paddle

    from ppliteformer.models.inference_import import rebuild_from_inference_model

    layer = paddle.nn.Sequential(paddle.nn.Embedding(10, 4), paddle.nn.Linear(4, 2))
    spec = [paddle.static.InputSpec([None, None], "int64", "input_ids")]
    folder = tmp_path / "export"
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec), str(folder / "inference"))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not an ERNIE/BERT-shaped model of task seq_cls"):
        rebuild_from_inference_model(folder)


@pytest.mark.unit
def test_a_folder_without_vocab_or_with_two_programs_says_what_to_do(tmp_path):
    from ppliteformer.models.inference_import import find_program

    (tmp_path / "a.pdmodel").write_bytes(b"x")
    (tmp_path / "a.pdiparams").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="vocab.txt is missing"):
        find_program(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    assert find_program(tmp_path)[0].name == "a.pdmodel"
    (tmp_path / "b.pdmodel").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="expected one exported program"):
        find_program(tmp_path)
    assert find_program(tmp_path, "b.pdmodel", "a.pdiparams")[0].name == "b.pdmodel"
