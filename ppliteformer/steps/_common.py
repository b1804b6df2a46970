"""What the steps share: the splits encoded with a step's tokenizer, training against the
teacher's logits, saving the best checkpoint, and the side files an int8 program carries."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from ..layout import MODEL_FILE, PARAMS_FILE, TEACHER_LOGITS_FILE
from ..runtimes.host import DygraphModel, outputs_over
from ..tasks import read_task_splits
from ..models.training import dev_metric, train_classifier

log = logging.getLogger("ppliteformer.steps")


class StepData:
    """The splits encoded with one tokenizer as their task encodes them: ids and targets (``*_labels``:
    a label id per text, or a token task's tags)."""

    def __init__(self, data_dir, tokenizer, max_seq_len: int):
        self.task, self.splits = read_task_splits(data_dir)
        for name in ("train", "dev", "test"):
            ids, targets = self.task.encode(tokenizer, getattr(self.splits, name), max_seq_len, self.splits.labels)
            setattr(self, f"{name}_ids", ids)
            setattr(self, f"{name}_labels", targets)
        self.pad_id = tokenizer.pad_token_id

    def dev_accuracy(self, model) -> float:
        """The task's headline metric on the dev split (accuracy, span F1, ...)."""
        return dev_metric(model, self.dev_ids, self.dev_labels, self.pad_id, self.task, self.splits.labels)

    def test_accuracy(self, model) -> float:
        return dev_metric(model, self.test_ids, self.test_labels, self.pad_id, self.task, self.splits.labels)

    def dev_outputs(self, model) -> list:
        """The model's output on each dev item (dygraph, eval mode)."""
        return outputs_over(DygraphModel(model), self.dev_ids, self.pad_id, batch_size=64)

    def batch_targets(self, rows):
        return self.task.batch_targets([self.train_labels[i] for i in rows])

    def training_task(self) -> dict:
        """``train_classifier``'s task arguments."""
        return {"task": self.task, "labels": self.splits.labels}


def teacher_logits(inputs) -> np.ndarray:
    return np.load(inputs.teacher_logits / TEACHER_LOGITS_FILE)


def train_against_teacher(inputs, model, data: StepData, cfg, on_best, teacher=None,
                          hidden_loss_weight: float = 0.0) -> dict:
    """Fine-tune ``model`` on alpha * labels + (1 - alpha) * teacher logits; returns the training figures.

    ``teacher`` (the dygraph model) is only needed for hidden-state distillation.
    """
    import paddle

    from ..compression.distillation import DistillationLoss

    paddle.seed(cfg.seed)
    loss = DistillationLoss(teacher_logits(inputs), cfg.alpha, cfg.temperature, data.task,
                            teacher=teacher, hidden_loss_weight=hidden_loss_weight, student=model)
    return train_classifier(model, data.train_ids, data.train_labels, data.dev_ids, data.dev_labels,
                            epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                            warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=cfg.seed,
                            evals_per_epoch=cfg.evals_per_epoch, pad_id=data.pad_id, on_best=on_best,
                            loss_fn=loss, extra_parameters=loss.parameters(), **data.training_task())


def checkpoint_saver(inputs, tokenizer):
    """An ``on_best`` callback that saves the model as this step's checkpoint."""
    from ..models.structure import read_task, save_checkpoint

    task = read_task(inputs.checkpoint)

    def save(model, dev_acc=None):
        save_checkpoint(model, tokenizer, task, inputs.out_dir)
    return save


def copy_side_files(export_dir: Path, out_dir: Path) -> None:
    """Vocabulary, tokenizer config and meta travel with an int8 program."""
    for item in Path(export_dir).iterdir():
        if item.is_file() and item.name not in (MODEL_FILE, PARAMS_FILE) and not item.name.endswith(".info"):
            shutil.copy(item, out_dir / item.name)


def train_control(inputs, model, data: StepData, cfg, tokenizer) -> "StepResult":
    """Train ``model`` (a fresh copy of a step's architecture) on the labels alone, with the step's
    budget; keep the best dev checkpoint in ``inputs.out_dir`` and score it on the test split."""
    import paddle

    from ..models.modeling import count_parameters
    from ..records import StepResult
    from ..models.structure import load_checkpoint

    paddle.seed(cfg.seed)
    training = train_classifier(model, data.train_ids, data.train_labels, data.dev_ids, data.dev_labels,
                                epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=cfg.seed,
                                evals_per_epoch=cfg.evals_per_epoch, pad_id=data.pad_id,
                                on_best=checkpoint_saver(inputs, tokenizer), **data.training_task())
    best = load_checkpoint(inputs.out_dir)
    test_accuracy = data.test_accuracy(best)
    log.info("control: the same architecture on the labels alone, same budget: dev %.4f, test %.4f (Paddle "
             "dygraph)", training["best_dev_accuracy"], test_accuracy)
    return StepResult(dev_accuracy_after=training["best_dev_accuracy"], parameters=count_parameters(best),
                      training=training, details={"test_accuracy": test_accuracy})
