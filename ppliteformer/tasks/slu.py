"""Task `slu`: an utterance's intent and its slots, from one model with two heads (ERNIE 3.0 Tiny's
on-device task).

Model: the family's token classifier (the slot head, on every token) plus an intent head on the
pooled [CLS] output (``joint_class``: ``ErnieForIntentAndSlots`` and so on); it returns two outputs,
``(intent logits [batch, intents], slot logits [batch, tokens, tags])``, on every runtime.
Loss: intent cross-entropy + slot cross-entropy (ignoring all but each token's first piece, as
token_cls does); distillation soft-targets both heads.

Data: see slu_data.py (the built-in ATIS, NLPCC2018's four fields, JSONL). ``splits.labels`` holds
the slot tags ("O" first) and ``splits.labels.intents`` the intent names, so the code that sizes a
head by ``len(labels)`` sizes the slot head, and ``config.num_intents`` the intent head.

Metrics (ERNIE 3.0 Tiny's): intent accuracy, slot span F1 (exact spans), and sentence accuracy, the
headline: the intent right and every slot tag right.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import Task
from ..errors import DataError, ModelFileError
from .slu_data import IntentSentence, atis_paths, read_atis, read_nlpcc, read_slu_jsonl
from .token_cls import IGNORE, TASK as TOKEN_TASK, fit_window_tagger, tag_order
from .token_data import detect_scheme, span_scores, split_tagged

FORMATS = ("an NLPCC2018 file (.txt/.tsv: _<TAB>query<TAB>intent<TAB>query with <slot>value</slot> tags) or a "
           '.jsonl file ({"tokens", "labels", "intent"} or {"text", "intent", "slots"} per line)')


class SlotTags(tuple):
    """The slot tags ("O" first; a tag's index is the slot head's class id), with ``intents``: the
    intent names (an intent's index is the intent head's class id)."""

    def __new__(cls, tags, intents):
        obj = super().__new__(cls, tags)
        obj.intents = tuple(intents)
        return obj


@dataclass(frozen=True)
class SluSplits:
    train: list
    dev: list
    test: list
    labels: SlotTags
    stats: dict
    scheme: str

    def to_json(self) -> dict:
        return {"task": TASK.name, "labels": list(self.labels), "intents": list(self.labels.intents),
                "scheme": self.scheme, "stats": self.stats,
                **{name: [s.to_json() for s in getattr(self, name)] for name in ("train", "dev", "test")}}

    @classmethod
    def from_json(cls, obj: dict) -> "SluSplits":
        return cls(labels=SlotTags(obj["labels"], obj["intents"]), stats=obj["stats"], scheme=obj["scheme"],
                   **{name: [IntentSentence.from_json(s) for s in obj[name]] for name in ("train", "dev", "test")})


@dataclass(frozen=True)
class SluTarget:
    slots: object      # the token_cls target (token_cls.TokenTarget)
    intent_id: int     # -1 for an intent the train split does not have


def _sentences(source: str) -> list:
    if source == "builtin":
        return [s for path in atis_paths() for s in read_atis(path)]
    path = Path(source)
    if path.suffix == ".jsonl":
        return read_slu_jsonl(path)
    if path.suffix in (".txt", ".tsv"):
        return read_nlpcc(path)
    hint = " A CoNLL file of tagged tokens is task token_cls (set task: token_cls)." if path.suffix in (
        ".conll", ".bio") else ""
    raise DataError(f"{path}: task slu reads {FORMATS}, not '{path.suffix}'.{hint}")


@functools.lru_cache(maxsize=None)
def joint_class(token_class):
    """``token_class`` (e.g. ErnieForTokenClassification) with an intent head on the pooled output (the [CLS]
    state where the family's token classifier has no pooler); its forward returns (intent logits, slot
    logits), or an output whose ``logits`` are that pair."""
    import paddle
    from paddlenlp.transformers.model_outputs import TokenClassifierOutput

    class Joint(token_class):
        def __init__(self, config):
            super().__init__(config)
            self.intent_classifier = paddle.nn.Linear(config.hidden_size, config.num_intents)

        def forward(self, input_ids, token_type_ids=None, position_ids=None, attention_mask=None,
                    output_hidden_states=False, return_dict=False):
            out = getattr(self, self.base_model_prefix)(
                input_ids, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask,
                output_hidden_states=output_hidden_states, return_dict=True)
            # RoBERTa's token classifier has no pooler: its [CLS] state is the sentence's, as in its own head
            pooled = out.last_hidden_state[:, 0] if out.pooler_output is None else out.pooler_output
            logits = (self.intent_classifier(self.dropout(pooled)), self.classifier(self.dropout(out.last_hidden_state)))
            return TokenClassifierOutput(logits=logits, hidden_states=out.hidden_states) if return_dict else logits

    Joint.__name__ = Joint.__qualname__ = token_class.__name__.replace("ForTokenClassification", "ForIntentAndSlots")
    return Joint


class _JointAuto:
    """What ``auto_class`` gives for slu: ``from_pretrained`` of a saved folder of any family."""

    @staticmethod
    def from_pretrained(source, num_classes=None, num_intents=None, **kwargs):
        from paddlenlp.transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(source))  # the family's config class (ErnieConfig, ...)
        if num_classes is not None:
            config.num_labels = num_classes
        if num_intents is not None:
            config.num_intents = num_intents
        if getattr(config, "num_intents", None) is None:
            raise ModelFileError(f"{source} has no intent head (its config has no num_intents): set teacher.train: "
                                 "true to fine-tune one on this data.")
        family_classifier = type(config).__name__.replace("Config", "ForSequenceClassification")
        return TASK.model_class(family_classifier).from_pretrained(str(source), config=config, **kwargs)


class IntentAndSlots(Task):
    name = "slu"
    summary = "an utterance's intent and slots, one model with two heads (sentence accuracy)"
    metric = "sentence_accuracy"
    metric_label = "sent"
    head = "ForTokenClassification"
    bundles = True

    def load_splits(self, data_cfg) -> SluSplits:
        train, dev, test, stats, scheme = split_tagged(_sentences(data_cfg.source), data_cfg)
        intents = tuple(sorted({s.intent for s in train}))
        if len(intents) < 2:
            raise DataError(f"{data_cfg.source}: the train split has {len(intents)} intent(s); an intent head needs "
                            "at least 2.")
        labels = SlotTags(tag_order(train + dev + test), intents)
        unseen = sum(s.intent not in intents for s in dev + test)
        stats = {**stats, "intents": len(intents), "unseen_intent_texts": unseen}
        return SluSplits(train, dev, test, labels, stats, scheme)

    def splits_from_json(self, obj: dict) -> SluSplits:
        return SluSplits.from_json(obj)

    def sample_input(self, item, meta: dict) -> tuple:
        return TOKEN_TASK.sample_input(item, meta)

    def model_facts(self, splits) -> dict:
        return {**TOKEN_TASK.model_facts(splits), "intents": list(splits.labels.intents)}

    def head_config(self, splits) -> dict:
        return {"num_intents": len(splits.labels.intents)}

    def describe(self, splits) -> str:
        s = splits.stats
        return (f"{s['rows']} utterances, {s['distinct_texts']} distinct, {s['contradictory_dropped']} labelled two "
                f"ways dropped -> train {s['train']}, dev {s['dev']}, test {s['test']} ({s['intents']} intents, "
                f"{len({t[2:] for t in splits.labels if t != 'O'})} slot types, {splits.scheme}; {s['unseen_intent_texts']} dev/test "
                "utterances have an intent the train split lacks)")

    def texts(self, items) -> list:
        return TOKEN_TASK.texts(items)

    def encode(self, tokenizer, items, max_seq_len: int, labels) -> tuple:
        ids_list, slot_targets = TOKEN_TASK.encode(tokenizer, items, max_seq_len, labels)
        index = {intent: i for i, intent in enumerate(labels.intents)}
        return ids_list, [SluTarget(t, index.get(s.intent, -1)) for s, t in zip(items, slot_targets)]

    def batch_targets(self, targets: list):
        """token_cls's [batch, pieces] slot ids with the intent id at position 0 ([CLS], which the slot loss
        ignores), so that one array carries both (train batches only: every train intent has an id)."""
        out = TOKEN_TASK.batch_targets([t.slots for t in targets])
        out[:, 0] = [t.intent_id for t in targets]
        return out

    @staticmethod
    def _split_targets(targets):
        import paddle

        slots = paddle.concat([paddle.full_like(targets[:, :1], IGNORE), targets[:, 1:]], axis=1)
        return targets[:, 0], slots

    def loss(self, logits, targets):
        import paddle

        intent_logits, slot_logits = logits
        intents, slots = self._split_targets(targets)
        return paddle.nn.functional.cross_entropy(intent_logits, intents) + TOKEN_TASK.loss(slot_logits, slots)

    def soft_loss(self, logits, teacher_logits, targets, temperature: float):
        """Both heads' soft targets; ``teacher_logits`` are ``stack_outputs``'s packing cut to the batch."""
        import paddle.nn.functional as F

        intent_logits, slot_logits = logits
        tags = slot_logits.shape[-1]
        _, slots = self._split_targets(targets)
        teacher_intents = F.softmax(teacher_logits[:, 0, tags:] / temperature, axis=-1)
        intent_soft = -(teacher_intents * F.log_softmax(intent_logits / temperature, axis=-1)).sum(-1).mean()
        return intent_soft * temperature ** 2 + TOKEN_TASK.soft_loss(slot_logits, teacher_logits[:, :, :tags], slots,
                                                                   temperature)

    def stack_outputs(self, outputs: list) -> np.ndarray:
        """[items, longest, tags + intents]: each item's slot logits, and its intent logits in the extra
        columns of row 0 (zeros elsewhere), one array for the cached teacher logits."""
        tags, intents = outputs[0][1].shape[-1], outputs[0][0].shape[-1]
        out = np.zeros((len(outputs), max(len(o[1]) for o in outputs), tags + intents), dtype="float32")
        for row, (intent, slots) in enumerate(outputs):
            out[row, :len(slots), :tags] = slots
            out[row, 0, tags:] = intent
        return out

    def score(self, outputs: list, targets: list, labels) -> dict:
        intent_right = [int(np.argmax(o[0])) == t.intent_id for o, t in zip(outputs, targets)]
        gold = [[labels[i] for i in t.slots.tag_ids] for t in targets]
        predicted = [TOKEN_TASK.predicted_tags(o[1], t.slots, labels) for o, t in zip(outputs, targets)]
        spans = span_scores(gold, predicted, detect_scheme(set(labels)))
        sentence = [i and g == p for i, g, p in zip(intent_right, gold, predicted)]
        return {"sentence_accuracy": float(np.mean(sentence)), "intent_accuracy": float(np.mean(intent_right)),
                "slot_f1": spans["f1"], "slot_precision": spans["precision"], "slot_recall": spans["recall"]}

    def compare(self, reference: list, other: list) -> dict:
        """Over both outputs: the largest difference of any logit, and the share of decisions (each item's
        intent, and the tag at every position) that agree."""
        diffs, agree = [], []
        for (ref_intent, ref_slots), (intent, slots) in zip(reference, other):
            diffs += [np.abs(ref_intent - intent).max(), np.abs(ref_slots - slots).max()]
            agree += [ref_intent.argmax() == intent.argmax(), *(ref_slots.argmax(-1) == slots.argmax(-1))]
        return {"max_abs_logit_diff": float(max(diffs)), "label_agreement": float(np.mean(agree))}

    def baseline(self, splits, cfg) -> dict:
        return intent_and_window_tagger(splits, cfg.seed)

    def head_from_program(self, out_dims: list) -> dict:
        """[pooler,] the slot classifier, then the intent classifier (the order ``joint_class`` makes them)."""
        if len(out_dims) not in (2, 3):
            raise ValueError(f"{len(out_dims)} linear layers after the encoder, where an intent + slots model has "
                             "a slot and an intent classifier (after a pooler, except RoBERTa)")
        return {"num_labels": out_dims[-2], "num_intents": out_dims[-1]}

    def model_class(self, family_class_name: str):
        import paddlenlp.transformers as transformers

        return joint_class(getattr(transformers, family_class_name.replace("ForSequenceClassification", self.head)))

    def auto_class(self):
        return _JointAuto


def _token_ngrams(tokens) -> list:
    return list(tokens) + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def intent_and_window_tagger(splits: SluSplits, seed: int, c_grid=(1.0, 4.0, 16.0)) -> dict:
    """Two classical models, scored together by sentence accuracy on test: the intent by logistic regression
    on token 1-2-gram TF-IDF (C chosen on dev), the slots by token_cls's window tagger."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.time()
    vectorizer = TfidfVectorizer(analyzer=_token_ngrams, sublinear_tf=True).fit([s.chars for s in splits.train])
    features = {name: vectorizer.transform([s.chars for s in getattr(splits, name)]) for name in ("train", "dev", "test")}
    intents = {name: np.asarray([s.intent for s in getattr(splits, name)]) for name in ("train", "dev", "test")}
    fitted = {c: LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(features["train"], intents["train"])
              for c in c_grid}
    dev_accuracy = {c: float((m.predict(features["dev"]) == intents["dev"]).mean()) for c, m in fitted.items()}
    best_c = max(c_grid, key=lambda c: (dev_accuracy[c], -c))
    intent_right = fitted[best_c].predict(features["test"]) == intents["test"]
    tag, tagger = fit_window_tagger(splits.train, splits.dev, splits.scheme, seed)
    tagger = {f"slot_tagger_{key}": value for key, value in tagger.items()}
    predicted = tag(splits.test)
    gold = [list(s.tags) for s in splits.test]
    sentence = [i and g == p for i, g, p in zip(intent_right, gold, predicted)]
    return {"name": "tfidf_logreg_intent+window_sgd_slots", "description": "intent: token 1-2-gram TF-IDF + "
            "logistic regression; slots: per-token logistic regression on a 5-token window (scikit-learn)",
            "accuracy": float(np.mean(sentence)), "metric": TASK.metric,
            "intent_accuracy": float(intent_right.mean()),
            "slot_f1": span_scores(gold, predicted, splits.scheme)["f1"], "c": best_c,
            "features": features["train"].shape[1], "dev_intent_accuracy": dev_accuracy[best_c], **tagger,
            "train_texts": len(splits.train), "test_texts": len(splits.test), "seconds": round(time.time() - start, 1)}


TASK = IntentAndSlots()
