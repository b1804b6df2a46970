"""Stage `teacher`: build (preset + own vocabulary) or load (pretrained / local) and fine-tune."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ...config.strategy import DataConfig, TeacherConfig
from ...errors import ModelFileError, StageError
from ...models.inference_import import is_inference_model_folder, rebuild_from_inference_model
from ...models.modeling import (PRESET_SOURCE, build_model, build_vocab, count_parameters, load_pretrained,
                        load_tokenizer, preset_config, write_vocab)
from ...layout import DATA_STAGE, ENCODER_FILE, PRETRAIN, TASK_FILE
from ..runner import Stage
from ...records import StepResult
from ...tasks import DEFAULT_TASK, get_task, stage_config
from ...models.training import dev_metric, train_classifier

log = logging.getLogger(__name__)


def _build_or_load(cfg: TeacherConfig, data_cfg: DataConfig, splits, out_dir: Path, task,
                   pretrained: Path | None = None):
    """The model and tokenizer to fine-tune; a preset starts from ``pretrained`` (the pretrain stage's
    folder: its vocabulary and encoder) when given, else from random weights and the train split's vocabulary."""
    if cfg.source == PRESET_SOURCE:
        vocab_file = out_dir / "vocab.txt"
        if pretrained is not None:
            shutil.copy(pretrained / "vocab.txt", vocab_file)
        else:
            write_vocab(build_vocab(task.texts(splits.train), cfg.vocab_min_freq), vocab_file)
        tokenizer = load_tokenizer(str(vocab_file))
        config = preset_config(cfg.preset, len(tokenizer.vocab), len(splits.labels), data_cfg.max_seq_len,
                               **task.head_config(splits))
        model = build_model(config, task.model_class("ErnieForSequenceClassification"))
        if pretrained is not None:
            import paddle

            model.ernie.set_state_dict(paddle.load(str(pretrained / ENCODER_FILE)))
        return model, tokenizer
    from_program = is_inference_model_folder(cfg.source)
    if from_program:
        model, diff = rebuild_from_inference_model(cfg.source, cfg.model_filename or None, cfg.params_filename or None,
                                                   task)
        log.info("teacher: rebuilt from the inference model in %s as %s (%d layers, hidden %d); every output matches "
                 "the program's within %.1e", cfg.source, type(model).__name__, model.config.num_hidden_layers,
                 model.config.hidden_size, diff)
        tokenizer = load_tokenizer(str(Path(cfg.source) / "vocab.txt"))
    else:
        model = load_pretrained(cfg.source, len(splits.labels) if cfg.train else None, task.auto_class(),
                                task.head_config(splits) if cfg.train else {})
        tokenizer = load_tokenizer(cfg.source)
    needed = task.head_config(splits)
    heads = {key: getattr(model.config, key, None) for key in needed}
    if heads != needed and (not cfg.train or from_program):
        raise ModelFileError(f"The model in '{cfg.source}' has heads {heads}, but the data needs "
                             f"{needed}. Use the data the model was trained on, or a model "
                             "trained for it.")
    if model.config.num_labels != len(splits.labels) and (not cfg.train or from_program):
        raise ModelFileError(f"The model in '{cfg.source}' predicts {model.config.num_labels} classes but the "
                             f"data has {len(splits.labels)} labels ({', '.join(splits.labels)}). "
                             + ("Use data with the labels the model was trained on (an exported inference model "
                                "keeps its head)." if from_program else
                                "Set teacher.train: true to fine-tune a new head, or use matching data."))
    positions = getattr(model.config, "max_position_embeddings", data_cfg.max_seq_len)
    if data_cfg.max_seq_len > positions:
        raise ModelFileError(f"The model in '{cfg.source}' has {positions} position embeddings, fewer than "
                             f"data.max_seq_len {data_cfg.max_seq_len} (Global.max_seq_length in an ACT config). "
                             f"Set it to {positions} or less.")
    return model, tokenizer


def _check_expected_accuracy(cfg: TeacherConfig, dev_acc: float) -> None:
    """teacher.expected_dev_accuracy (ACT's origin_metric): a teacher far from what its owner measured
    usually means other data, another label order or another tokenizer, and every later number would mislead."""
    if cfg.expected_dev_accuracy and abs(dev_acc - cfg.expected_dev_accuracy) > cfg.expected_accuracy_tolerance:
        raise StageError(f"The teacher scores {dev_acc:.4f} on the dev split, but teacher.expected_dev_accuracy "
                         f"(ACT's origin_metric) says {cfg.expected_dev_accuracy:.4f} (allowed difference "
                         f"{cfg.expected_accuracy_tolerance}). Check that the data, its label names (sorted "
                         "order gives the class ids) and the vocab are the ones the model was trained with, or "
                         "correct the expected value.")


def train_teacher(cfg: TeacherConfig, data_cfg: DataConfig, splits, out_dir, pretrained=None,
                  task: str = DEFAULT_TASK) -> StepResult:
    """Build or load the teacher (a preset from the ``pretrained`` encoder, if given) with ``task``'s head,
    fine-tune it, keep the best dev checkpoint in ``out_dir``."""
    import paddle

    out_dir = Path(out_dir)
    task = get_task(task)
    paddle.seed(cfg.seed)
    model, tokenizer = _build_or_load(cfg, data_cfg, splits, out_dir, task,
                                      None if pretrained is None else Path(pretrained))
    (out_dir / TASK_FILE).write_text(json.dumps({"task": task.name, "labels": list(splits.labels),
                                                 "max_seq_len": data_cfg.max_seq_len, **task.model_facts(splits)}),
                                     encoding="utf-8")

    def save(m, dev_acc=None):
        m.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))

    dev_ids, dev_targets = task.encode(tokenizer, splits.dev, data_cfg.max_seq_len, splits.labels)
    if not cfg.train:
        model.eval()
        acc = dev_metric(model, dev_ids, dev_targets, tokenizer.pad_token_id, task, splits.labels)
        _check_expected_accuracy(cfg, acc)
        save(model)
        return StepResult(dev_accuracy_after=acc, parameters=count_parameters(model), details={"trained": False})
    train_ids, train_targets = task.encode(tokenizer, splits.train, data_cfg.max_seq_len, splits.labels)
    result = train_classifier(
        model, train_ids, train_targets, dev_ids, dev_targets, task=task, labels=splits.labels,
        epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=cfg.seed,
        evals_per_epoch=cfg.evals_per_epoch,
        pad_id=tokenizer.pad_token_id, on_best=save)
    _check_expected_accuracy(cfg, result["best_dev_accuracy"])
    return StepResult(dev_accuracy_after=result["best_dev_accuracy"], parameters=count_parameters(model),
                      training=result, details={"trained": True})


def stage(strategy) -> Stage:
    pretrained = strategy.pretrain is not None

    def run(ctx):
        return train_teacher(strategy.teacher, strategy.data, task.read_splits(ctx.input(DATA_STAGE)), ctx.out_dir,
                             ctx.input(PRETRAIN) if pretrained else None, strategy.task).to_json()
    task = get_task(strategy.task)
    return Stage("teacher", run, stage_config(strategy, {"teacher": strategy.teacher,
                                                         "max_seq_len": strategy.data.max_seq_len}),
                 inputs=(DATA_STAGE, PRETRAIN) if pretrained else (DATA_STAGE,), data_parallel=True)
