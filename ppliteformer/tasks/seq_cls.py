"""Task `seq_cls`: one label per text, or per sentence pair (a second text with token type 1).

Its data, splits and encoding live in seq_data.py, and its classical row in seq_baseline.py, which the
compression steps share; this module is what the stages ask of the task.
"""
from __future__ import annotations

import numpy as np

from . import Task


def _stacked(outputs: list) -> np.ndarray:
    return np.stack([np.asarray(o).reshape(-1) for o in outputs])


class SequenceClassification(Task):
    name = "seq_cls"
    summary = "one label per text or per sentence pair (accuracy)"
    metric = "accuracy"
    metric_label = "acc"
    head = "ForSequenceClassification"
    bundles = True

    def load_splits(self, data_cfg):
        from .seq_data import load_splits

        return load_splits(data_cfg.source, data_cfg.split, data_cfg.seed)

    def splits_from_json(self, obj: dict):
        from .seq_data import DatasetSplits

        return DatasetSplits.from_json(obj)

    def sample_input(self, item, meta: dict) -> tuple:
        return item.text, item.text_b

    def model_facts(self, splits) -> dict:
        return {"text_pair": splits.pairs}

    def describe(self, splits) -> str:
        s = splits.stats
        inputs = "texts" if not splits.pairs or "derived" in s else "pairs"
        derived = f" ({s['derived']})" if "derived" in s else ""
        return (f"{s['rows']} rows, {s['distinct_texts']} distinct {inputs}, {s['contradictory_dropped']} labelled "
                f"both ways dropped -> train {s['train']}, dev {s['dev']}, test {s['test']}{derived} (labels: "
                f"{', '.join(splits.labels)})")

    def texts(self, items) -> list:
        from .seq_data import texts_of

        return texts_of(items)

    def encode(self, tokenizer, items, max_seq_len: int, labels) -> tuple:
        from .seq_data import encode_examples

        index = {label: i for i, label in enumerate(labels)}
        return encode_examples(tokenizer, items, max_seq_len), [index[e.label] for e in items]

    def batch_targets(self, targets: list):
        return np.asarray(targets, dtype="int64")

    def loss(self, logits, targets):
        import paddle

        return paddle.nn.functional.cross_entropy(logits, targets)

    def soft_loss(self, logits, teacher_logits, targets, temperature: float):
        import paddle.nn.functional as F

        target = F.softmax(teacher_logits / temperature, axis=-1)
        return -(target * F.log_softmax(logits / temperature, axis=-1)).sum(axis=-1).mean() * temperature ** 2

    def score(self, outputs: list, targets: list, labels) -> dict:
        return {"accuracy": float((_stacked(outputs).argmax(-1) == np.asarray(targets)).mean())}

    def compare(self, reference: list, other: list) -> dict:
        reference, other = _stacked(reference), _stacked(other)
        return {"max_abs_logit_diff": float(np.abs(reference - other).max()),
                "label_agreement": float((reference.argmax(-1) == other.argmax(-1)).mean())}

    def baseline(self, splits, cfg) -> dict:
        from .seq_baseline import tfidf_logreg

        return tfidf_logreg(splits, cfg.tfidf_c_grid, cfg.seed)


TASK = SequenceClassification()
