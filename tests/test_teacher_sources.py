"""A teacher loaded from a local model folder (what a PaddleNLP name resolves to online)."""
import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ModelFileError
from ppliteformer.models.modeling import build_model, build_vocab, load_pretrained, load_tokenizer, preset_config, write_vocab
from ppliteformer.pipeline.workflow import run_strategy

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def local_model_dir(tmp_path_factory, corpus_tsv):
    """A 3-class ERNIE saved with save_pretrained, as a user's own checkpoint would be."""
    from ppliteformer.tasks.seq_data import load_file

    folder = tmp_path_factory.mktemp("pretrained")
    write_vocab(build_vocab([e.text for e in load_file(corpus_tsv)]), folder / "vocab.txt")
    tokenizer = load_tokenizer(str(folder / "vocab.txt"))
    build_model(preset_config("ernie-tiny-test", len(tokenizer.vocab), 3, 64)).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_local_folder_teacher_is_fine_tuned_with_a_new_head(tmp_path, corpus_tsv, local_model_dir):
    strategy_file = tmp_path / "local.yaml"
    strategy_file.write_text(
        f"data: {{source: {corpus_tsv}, max_seq_len: 48}}\n"
        f"teacher: {{source: {local_model_dir}, epochs: 1, batch_size: 32}}\n"
        "convert: {targets: [x86]}\nbench: {seq_len: 16, repeats: 2, warmup: 0}\n", encoding="utf-8")
    report = run_strategy(load_strategy(strategy_file), workdir=tmp_path / "work")
    artifact = report.artifacts[0]
    assert artifact.accuracy is not None and artifact.nb_bytes_arm is None
    assert artifact.max_abs_logit_diff_lite_vs_inference < 1e-4
    fine_tuned = load_pretrained(str(tmp_path / "work" / "teacher"))
    assert fine_tuned.classifier.weight.shape == [32, 2]  # the saved 3-class head was replaced


def test_missing_local_folder_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="Could not load a model"):
        load_pretrained(str(tmp_path / "no-such-model"), 2)


def test_a_model_whose_labels_do_not_fit_the_data_is_refused(tmp_path, corpus_tsv, local_model_dir):
    strategy_file = tmp_path / "as_is.yaml"
    strategy_file.write_text(f"data: {{source: {corpus_tsv}}}\nteacher: {{source: {local_model_dir}, train: false}}\n",
                             encoding="utf-8")
    with pytest.raises(ModelFileError, match="predicts 3 classes but the data has 2 labels"):
        run_strategy(load_strategy(strategy_file), workdir=tmp_path / "work")
