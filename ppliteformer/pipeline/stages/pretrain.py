"""Stage `pretrain`: masked-LM pre-training of the preset teacher's encoder (ppliteformer/models/pretraining.py)."""
from __future__ import annotations

import logging
from pathlib import Path

from ...tasks.seq_data import DatasetSplits, read_splits, texts_of
from ...errors import DataError
from ...layout import DATA_STAGE, ENCODER_FILE, PRETRAIN
from ...models.modeling import build_vocab, load_tokenizer, preset_config, write_vocab
from ..runner import Stage

log = logging.getLogger(__name__)


def unlabelled_texts(path) -> list:
    """The non-empty lines of a UTF-8 text file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file. Save the unlabelled texts as UTF-8, one per line.") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{path}: no text in it. Give a file with one unlabelled text per line.")
    return texts


def pretrain_teacher_encoder(cfg, teacher_cfg, data_cfg, splits: DatasetSplits, out_dir) -> dict:
    """vocab.txt (the train split's, plus the unlabelled file's characters) and the pre-trained encoder."""
    import paddle

    from ...models.pretraining import pretrain_encoder

    out_dir = Path(out_dir)
    train_texts = texts_of(splits.train)
    texts = train_texts if cfg.text_file == "-" else unlabelled_texts(cfg.text_file)
    vocab_texts = train_texts if cfg.text_file == "-" else train_texts + texts
    write_vocab(build_vocab(vocab_texts, teacher_cfg.vocab_min_freq), out_dir / "vocab.txt")
    tokenizer = load_tokenizer(str(out_dir / "vocab.txt"))
    config = preset_config(teacher_cfg.preset, len(tokenizer.vocab), len(splits.labels), data_cfg.max_seq_len)
    state, metrics = pretrain_encoder(config, tokenizer, texts, texts_of(splits.dev), data_cfg.max_seq_len, cfg)
    paddle.save(state, str(out_dir / ENCODER_FILE))
    log.info("pretrain: masked-LM on %d texts, %d steps; dev masked-token accuracy %.4f -> %.4f", metrics["texts"],
             metrics["steps"], metrics["dev_masked_accuracy_before"], metrics["dev_masked_accuracy_after"])
    return metrics


def stage(strategy) -> Stage:
    def run(ctx):
        return pretrain_teacher_encoder(strategy.pretrain, strategy.teacher, strategy.data,
                                        read_splits(ctx.input(DATA_STAGE)), ctx.out_dir)
    config = {"pretrain": strategy.pretrain, "preset": strategy.teacher.preset,
              "vocab_min_freq": strategy.teacher.vocab_min_freq, "max_seq_len": strategy.data.max_seq_len}
    return Stage(PRETRAIN, run, config, inputs=(DATA_STAGE,), data_parallel=True)
