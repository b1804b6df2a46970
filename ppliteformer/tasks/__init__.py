"""The task shapes the product serves, one module each, found through this registry.

Each module in this folder defines ``TASK``, an instance of a ``Task`` subclass: its name (the
strategy's ``task:``), the name of its headline metric, its built-in data and file formats, the
PaddleNLP head every family gets, its loss, its metrics, how two runtimes' outputs must agree,
and its classical baseline (each compression step says which tasks it serves: ``Step.tasks``).
The stages ask the task and never test its name, so a new task is one new module (a task
defined elsewhere, a plug-in or a test, joins with ``register``), the way ``ppliteformer/steps``
works for compression steps.

Importing this package stays light: task modules import Paddle and scikit-learn inside methods.
"""
from __future__ import annotations

from ..errors import ConfigError
from ..registry import Registry

DEFAULT_TASK = "seq_cls"


class Task:
    """One task shape. A subclass sets the class attributes and implements the methods.

    ``items`` are what the task's splits hold (an ``Example``, a ``TaggedSentence``, ...);
    ``targets`` are what ``encode`` makes of them for the loss and the metrics; ``outputs``
    are one model output per item, as a runtime returns it for that item alone (a token task's
    ``[tokens, tags]`` cut to the item's own length; a tuple of such arrays for a model with several
    outputs).
    """
    name = ""
    summary = ""           # one line for `ppliteformer run --help`
    metric = ""            # the headline metric: report.json's ``accuracy`` fields hold it for this task
    metric_label = ""      # its short name in the printed table ("acc", "F1")
    head = ""              # the PaddleNLP class of a family is <Family><head>, e.g. ErnieForTokenClassification
    bundles = False        # whether the standalone predictor (device/predictor.py) serves this task

    def load_splits(self, data_cfg):
        """The data stage's splits (an object with train, dev, test, labels, stats and ``to_json``)."""
        raise NotImplementedError

    def splits_from_json(self, obj: dict):
        raise NotImplementedError

    def read_splits(self, data_dir):
        """The splits the data stage wrote into ``data_dir``."""
        import json
        from pathlib import Path

        from ..layout import SPLITS_FILE

        return self.splits_from_json(json.loads((Path(data_dir) / SPLITS_FILE).read_text(encoding="utf-8")))

    def model_facts(self, splits) -> dict:
        """What the device's predictor must know of the data beyond the labels (task.json, then the meta file)."""
        return {}

    def sample_input(self, item, meta: dict) -> tuple:
        """(text, second text or None) of a test item as a user gives it to the device's predictor
        (``meta``: the model's meta file, as the predictor reads it)."""
        raise NotImplementedError

    def describe(self, splits) -> str:
        """The data stage's one line: rows, what cleaning dropped, the split sizes, the labels."""
        raise NotImplementedError

    def texts(self, items) -> list:
        """Every raw text of ``items``, for a vocabulary built from the train split."""
        raise NotImplementedError

    def encode(self, tokenizer, items, max_seq_len: int, labels) -> tuple:
        """(token ids or ``SegmentedIds`` per item, target per item)."""
        raise NotImplementedError

    def batch_targets(self, targets: list):
        """The targets of one batch as the numpy array the loss takes."""
        raise NotImplementedError

    def loss(self, logits, targets):
        """The training loss (Paddle tensors) of one batch."""
        raise NotImplementedError

    def soft_loss(self, logits, teacher_logits, targets, temperature: float):
        """Distillation's soft-target cross-entropy, times T^2 (Paddle tensors; ``teacher_logits`` cut to the
        batch's shape), over what ``loss`` counts."""
        raise NotImplementedError

    def score(self, outputs: list, targets: list, labels) -> dict:
        """The task's metrics of ``outputs`` against ``targets``; ``self.metric`` among them."""
        raise NotImplementedError

    def stack_outputs(self, outputs: list):
        """Per-item outputs as one array (the cached teacher logits distillation reads): [items, classes],
        or [items, longest, tags] with zeros past each item's own length."""
        from ..runtimes.host import padded_stack

        return padded_stack(outputs)

    def head_config(self, splits) -> dict:
        """Config settings a fresh model of this task needs beyond ``num_labels`` (= ``len(splits.labels)``)."""
        return {}

    def head_from_program(self, out_dims: list) -> dict:
        """The head's config settings from the output widths of the linear layers an exported program holds
        after its encoder (a pooler first where the model reads one); ValueError if they are not this task's."""
        if len(out_dims) != 2:
            raise ValueError(f"{len(out_dims)} linear layers after the encoder, where a {self.name} model has 2 "
                             "(pooler, classifier)")
        return {"num_labels": out_dims[-1]}

    def compare(self, reference: list, other: list) -> dict:
        """How far two runtimes' outputs on the same items are apart: ``max_abs_logit_diff`` and
        ``label_agreement`` (the share of predicted labels that agree, per item or per token)."""
        raise NotImplementedError

    def baseline(self, splits, cfg) -> dict:
        """A classical model trained on the train split, scored on the test split with the task's
        metric under the key ``accuracy`` (with ``name``, ``description`` and ``seconds``)."""
        raise NotImplementedError

    def auto_class(self):
        """PaddleNLP's Auto class that loads this task's model from a saved folder."""
        import paddlenlp.transformers as transformers

        return getattr(transformers, f"AutoModel{self.head}")

    def model_class(self, family_class_name: str):
        """The family's class for this task, from its sequence-classifier name (e.g. BertForSequenceClassification)."""
        import paddlenlp.transformers as transformers

        return getattr(transformers, family_class_name.replace("ForSequenceClassification", self.head))


_TASKS = Registry(__name__, __path__, "TASK", "task")


def register(task: Task) -> Task:
    """Add a task defined outside this folder (a plug-in or a test); its name must be new."""
    return _TASKS.register(task)


def unregister(name: str) -> None:
    _TASKS.unregister(name)


def task_names() -> list:
    return sorted(_TASKS.members())


def read_task_splits(data_dir) -> tuple:
    """(task, splits) of the data stage's folder: the task its splits.json names (seq_cls when it names none)."""
    import json
    from pathlib import Path

    from ..layout import SPLITS_FILE

    obj = json.loads((Path(data_dir) / SPLITS_FILE).read_text(encoding="utf-8"))
    task = get_task(obj.get("task", DEFAULT_TASK))
    return task, task.splits_from_json(obj)


def stage_config(strategy, config):
    """A stage's reuse key: ``config`` alone for the default task (the keys of work directories made before
    tasks existed stay valid), with the task's name for any other."""
    return config if strategy.task == DEFAULT_TASK else {"task": strategy.task, "config": config}


def get_task(name: str, where: str = "task") -> Task:
    tasks = _TASKS.members()
    if name not in tasks:
        raise ConfigError(f"{where}: unknown task {name!r}. Tasks: " + "; ".join(
            f"{t.name} ({t.summary})" for _, t in sorted(tasks.items())) + ".")
    return tasks[name]
