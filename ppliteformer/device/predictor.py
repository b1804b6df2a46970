#!/usr/bin/env python3
"""Standalone Paddle Lite text classifier and token tagger: the file that ships to a phone or an ARM board.

A text classifier prints each text's label and probability; a token model (task token_cls) prints
its entities with their character offsets (decoded by tag_spans.py, shipped beside this file).

It imports only numpy and the `tokenizers` library, plus the `paddlelite` package where one
exists (no paddle, no paddlenlp, which do not install on ARM boards), so it can be copied with
its sibling files next to a model folder made by `ppliteformer convert`:

    model.nb  vocab.txt  ppliteformer_meta.json  [lib/libppl_lite.so  lib/libpaddle_light_api_shared.so]

Where `paddlelite` is not importable (every ARM Linux board: PyPI has no aarch64 build), the
`.nb` runs through Paddle Lite's own C++ library by way of ppliteformer's small C shim
(`lib/libppl_lite.so`, loaded with ctypes; a bundle for arm ships both libraries, and
$PPLITEFORMER_LITE_SHIM may name another copy of the shim).

Usage:
    python predict.py --model DIR_OR_NB --text "质量很好" [--text ...] [--file texts.txt] [--json]
    python predict.py --model DIR --selfcheck selfcheck.json [--json]   # on-device check, exit 1 on mismatch
    python predict.py --model DIR --bench [--threads N --warmup W --repeats R] [--json]

It needs its sibling files beside it (a bundle holds them all): lite_runtime.py (the input
arrays and the Lite runtimes, which ppliteformer's evaluation imports too), model_files.py
(the model folder's files) and tag_spans.py (entities from tags).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np

try:  # inside the ppliteformer package
    from .lite_runtime import SegmentedIds, batch_arrays, item_output, measure_latency, mkl_avx2_env, open_model
    from .model_files import META_FILE, PredictorError, VOCAB_FILE, check_vocab, read_id_dtype, read_meta
    from .tag_spans import chunks
except ImportError:  # run as a script (predict.py): the sibling files beside it
    try:
        from lite_runtime import SegmentedIds, batch_arrays, item_output, measure_latency, mkl_avx2_env, open_model
        from model_files import META_FILE, PredictorError, VOCAB_FILE, check_vocab, read_id_dtype, read_meta
        from tag_spans import chunks  # after the two above: a lone predict.py names lite_runtime.py first
    except ImportError as exc:
        if exc.name not in ("tag_spans", "lite_runtime", "model_files"):
            raise
        sys.exit(f"predict.py: {exc.name}.py is missing beside {__file__}. predict.py needs its sibling files "
                 "(lite_runtime.py, model_files.py, tag_spans.py): copy the bundle folder made by 'ppliteformer "
                 "bundle' whole, or all of deploy/python/.")


def load_tokenizer(vocab_path, lowercase: bool, max_seq_len: int):
    """PaddleNLP's BERT/ERNIE tokenizer rebuilt from `tokenizers` parts.

    PaddleNLP's BasicTokenizer also splits off every Unicode symbol (category S*, e.g.
    ～ and ￥) and a few listed code points, which the stock BERT pre-tokenizer does not.
    """
    from tokenizers import BertWordPieceTokenizer, Regex, pre_tokenizers

    tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=lowercase, strip_accents=None,
                                       clean_text=True, handle_chinese_chars=True)
    symbols = Regex(r"[\p{S}\x{00AD}\x{00B2}\x{00BA}\x{3007}\x{00B5}\x{00D8}\x{014B}\x{01B1}]")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.BertPreTokenizer(), pre_tokenizers.Split(symbols, behavior="isolated")])
    tokenizer.enable_truncation(max_length=max_seq_len)
    return tokenizer


def entity_line(entities: list) -> str:
    """Entities as one printable string: 江泽民/PER@3-6 北京/LOC@10-12 ("-" when there are none)."""
    return " ".join(f"{e['text']}/{e['type']}@{e['start']}-{e['end']}" for e in entities) or "-"


TOKEN_TASKS = ("token_cls", "slu")  # the tasks that tag each token of a text


def intent_line(result: dict) -> str:
    """An slu result as one printable string: the intent, then its slots (flight_search 波士顿/city@3-6)."""
    return f"{result['intent']} {entity_line(result['slots'])}"


def flat_logits(logits) -> np.ndarray:
    """Every logit of a printed result in one vector (an slu result's intent logits, then its slot rows)."""
    if isinstance(logits, dict):
        return np.concatenate([np.asarray(logits["intent"], dtype=float).ravel(),
                               np.asarray(logits["slots"], dtype=float).ravel()])
    return np.asarray(logits, dtype=float).ravel()


class TextClassifier:
    """Tokenizer + `.nb` model + label names, read from one model folder."""

    def __init__(self, model_path, threads: int = 1, load_model: bool = True):
        """``load_model=False`` reads only the tokenizer and labels (for an arm `.nb` on x86)."""
        model_path = Path(model_path)
        folder = model_path if model_path.is_dir() else model_path.parent
        nb_path = model_path if model_path.is_file() else folder / "model.nb"
        for needed in (nb_path, folder / VOCAB_FILE, folder / META_FILE):
            if not needed.is_file():
                raise PredictorError(
                    f"{needed} not found. --model must be a model folder made by 'ppliteformer convert' "
                    f"(model.nb, {VOCAB_FILE}, {META_FILE}) or the .nb file inside one.")
        self.meta = read_meta(folder)
        check_vocab(folder / VOCAB_FILE)
        self.labels = self.meta["labels"]
        self.max_seq_len = int(self.meta["max_seq_len"])
        self.tokenizer = load_tokenizer(folder / VOCAB_FILE, self.meta.get("do_lower_case", True), self.max_seq_len)
        self.pad_id = self.tokenizer.token_to_id(self.meta.get("pad_token", "[PAD]")) or 0
        self.text_pair = bool(self.meta.get("text_pair", False))  # a sentence-pair model: two texts in
        self.task = self.meta.get("task", "seq_cls")  # token_cls: a tag per token, entities out; slu: intent + slots
        self.intents = self.meta.get("intents") or []  # slu: the intent head's names (labels are the slot tags)
        self.token_unit = self.meta.get("token_unit", "char")  # token_cls: what one token of the text is
        self.scheme = self.meta.get("scheme", "BIO")
        self._pieces_of = {}
        self.id_dtype = read_id_dtype(folder)
        self.model = open_model(nb_path, threads, self.id_dtype) if load_model else None

    def arrays(self, ids_list) -> dict:
        """The model's four inputs for token-id lists, ids in the dtype the model was exported with."""
        return batch_arrays(ids_list, self.pad_id, id_dtype=self.id_dtype)

    def encode(self, text: str, text_pair: str | None = None, warn: bool = True) -> list:
        """Token ids of one text, or ``SegmentedIds`` of a pair (truncated longest first, as PaddleNLP does);
        ``warn``: say so on stderr when the input was truncated."""
        if (text_pair is not None) != self.text_pair:
            raise PredictorError("this model classifies sentence pairs: give each text with its second text "
                                 "(--text with --text-pair, or text_a<TAB>text_b lines in --file)" if self.text_pair
                                 else "this model classifies single texts; --text-pair is for sentence-pair models")
        if self.task in TOKEN_TASKS:
            ids, first_pieces, tokens = self.encode_tokens(text)
            truncated = len(first_pieces) < len(tokens)
        elif text_pair is None:
            encoding = self.tokenizer.encode(text)
            ids, truncated = encoding.ids, bool(encoding.overflowing)
        else:
            ids, truncated = self._encode_pair(text, text_pair)
        if truncated and warn:
            print(f"warning: input longer than {self.max_seq_len} tokens was truncated: "
                  f"{text[:30]!r}...", file=sys.stderr)
        return ids

    def _encode_pair(self, text: str, text_pair: str):
        """PaddleNLP's pair encoding: both texts' pieces cut one at a time from the longer one (the second on
        a tie) until [CLS] a [SEP] b [SEP] fits max_seq_len. (`tokenizers`' own pair truncation breaks ties the
        other way, so it is done here.)"""
        first, second = (self.tokenizer.encode(t, add_special_tokens=False) for t in (text, text_pair))
        a, b = first.ids, second.ids
        truncated = bool(first.overflowing or second.overflowing)
        budget = self.max_seq_len - 3
        while len(a) + len(b) > budget:
            truncated = True
            if len(a) > len(b):
                a = a[:-1]
            else:
                b = b[:-1]
        cls, sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        return SegmentedIds([cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)), truncated

    def tokens_of(self, text: str) -> list:
        """(token, start, end) of each token of the text: its characters (spaces left out) for a model
        trained on characters, else its whitespace-separated words; offsets index ``text``."""
        if self.token_unit == "char":
            return [(c, i, i + 1) for i, c in enumerate(text) if not c.isspace()]
        return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    def encode_tokens(self, text: str) -> tuple:
        """(ids, position of each token's first piece, tokens) as ppliteformer's token task encodes a
        sentence: every token tokenized on its own ([UNK] if it gives no piece), [CLS] pieces [SEP];
        tokens past max_seq_len are left out."""
        tokens = self.tokens_of(text)
        ids, first = [self.tokenizer.token_to_id("[CLS]")], []
        for token, _, _ in tokens:
            if token not in self._pieces_of:
                self._pieces_of[token] = self.tokenizer.encode(token, add_special_tokens=False).ids or \
                    [self.tokenizer.token_to_id("[UNK]")]
            pieces = self._pieces_of[token]
            if len(ids) + len(pieces) > self.max_seq_len - 1:
                break
            first.append(len(ids))
            ids += pieces
        return ids + [self.tokenizer.token_to_id("[SEP]")], first, tokens

    def _entities(self, text: str, logits) -> dict:
        """A token model's entities in ``text`` from its logits ([pieces, tags]): type, text, character
        offsets (end exclusive) and the lowest probability among its tokens' tags; with every token's tag."""
        _, first, tokens = self.encode_tokens(text)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        best = [int(probs[p].argmax()) for p in first]
        tags = [self.labels[b] for b in best]
        entities = []
        for chunk in chunks(tags, self.scheme):
            start, end = tokens[chunk.start][1], tokens[chunk.end - 1][2]
            entities.append({"type": chunk.kind, "text": text[start:end], "start": start, "end": end,
                             "probability": float(min(probs[first[k], best[k]] for k in range(chunk.start, chunk.end)))})
        return {"text": text, "entities": entities, "tags": tags}

    def _intent_and_slots(self, text: str, intent_logits, slot_logits) -> dict:
        """An slu model's intent with its probability, and its slots as a token model's entities."""
        tagged = self._entities(text, slot_logits)
        probs = np.exp(intent_logits - intent_logits.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        return {"text": text, "intent": self.intents[best], "probability": float(probs[best]),
                "slots": tagged["entities"], "tags": tagged["tags"],
                "logits": {"intent": [float(x) for x in intent_logits],
                           "slots": [[float(x) for x in row] for row in slot_logits]}}

    def predict(self, text: str, text_pair: str | None = None, warn: bool = True) -> dict:
        """The label (or a token model's entities) of one input; ``warn``: say on stderr when it was truncated."""
        if not text.strip() or (text_pair is not None and not text_pair.strip()):
            raise PredictorError("The text is empty; give at least one non-space character.")
        if self.task in TOKEN_TASKS and text_pair is not None:
            raise PredictorError("this model tags the tokens of single texts; --text-pair is for sentence-pair models")
        ids = self.encode(text, text_pair, warn)
        return self.decode(text, text_pair, item_output(self.model.run(self.arrays([ids])), 0, len(ids)))

    def decode(self, text: str, text_pair: str | None, logits) -> dict:
        """The printed result of one input from the model's output for it (here, or a reference runtime's)."""
        if self.task == "token_cls":
            return {**self._entities(text, logits), "logits": [[float(x) for x in row] for row in logits]}
        if self.task == "slu":
            return self._intent_and_slots(text, *logits)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = int(probs.argmax())
        pair = {} if text_pair is None else {"text_pair": text_pair}
        return {"text": text, **pair, "label": self.labels[best], "probability": float(probs[best]),
                "logits": [float(x) for x in logits]}


def _numbers(values, count: int) -> bool:
    return (isinstance(values, list) and len(values) == count and
            all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values))


def _logits_shape_ok(logits, task: str, classes: int, intents: int) -> bool:
    if task == "slu":
        return (isinstance(logits, dict) and _numbers(logits.get("intent"), intents) and
                _logits_shape_ok(logits.get("slots"), "token_cls", classes, 0))
    if task == "token_cls":
        return isinstance(logits, list) and bool(logits) and all(_numbers(row, classes) for row in logits)
    return _numbers(logits, classes)


_SAMPLE_LOGITS = {"seq_cls": "{classes} numbers, one per label", "token_cls": "one row of {classes} numbers per piece",
                  "slu": '{{"intent": {intents} numbers, "slots": one row of {classes} numbers per piece}}'}


def read_selfcheck(check_file, classes: int, task: str = "seq_cls", intents: int = 0):
    """(samples, atol) of a selfcheck.json; a PredictorError naming the file and the sample otherwise.
    A file with no samples is refused: a check of nothing must not pass. A token model's sample has
    'entities' (the line ``entity_line`` prints) and one row of logits per piece; an slu model's has
    'label' (the line ``intent_line`` prints) and both heads' logits."""
    fix = "Use the selfcheck.json of a bundle made by 'ppliteformer bundle' (make the bundle again)."
    try:
        spec = json.loads(Path(check_file).read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:
        raise PredictorError(f"{check_file}: not a readable JSON self-check file ({str(exc)[:120]}). {fix}") from None
    samples = spec.get("samples") if isinstance(spec, dict) else None
    if not isinstance(samples, list) or not samples:
        raise PredictorError(f"{check_file}: no samples to check ('samples' must be a non-empty list); a self-check "
                             f"of nothing cannot pass. {fix}")
    atol = spec.get("atol", 1e-3)
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol < float("inf"):
        raise PredictorError(f"{check_file}: 'atol' is {str(atol)[:30]!r}, not a tolerance (a number >= 0). {fix}")
    label = "entities" if task == "token_cls" else "label"
    for number, sample in enumerate(samples, start=1):
        ok = (isinstance(sample, dict) and isinstance(sample.get("text"), str) and isinstance(sample.get(label), str)
              and isinstance(sample.get("text_pair", ""), str)
              and _logits_shape_ok(sample.get("logits"), task, classes, intents))
        if not ok:
            rows = _SAMPLE_LOGITS.get(task, _SAMPLE_LOGITS["seq_cls"]).format(classes=classes, intents=intents)
            raise PredictorError(f"{check_file}: sample {number} needs 'text' (a string), '{label}' (a string) and "
                                 f"'logits' ({rows}). {fix}")
    return samples, float(atol)


def checked_line(result: dict) -> str:
    """What a self-check compares of a printed result besides its logits: the label, the entities line of
    a token model, the intent and slots line of an slu model."""
    if "entities" in result:
        return entity_line(result["entities"])
    return intent_line(result) if "intent" in result else result["label"]


def self_check(classifier: TextClassifier, check_file) -> dict:
    """Compare this device's labels and logits with those the bundle was made with.

    ``check_file``: {"atol": float, "samples": [{"text", "label", "logits"}]}, written by
    ``ppliteformer bundle`` from the x86 run of the same model.
    """
    samples, atol = read_selfcheck(check_file, len(classifier.labels), classifier.task, len(classifier.intents))
    results = []
    for sample in samples:
        got = classifier.predict(sample["text"], sample.get("text_pair"), warn=False)
        expected = sample["entities"] if classifier.task == "token_cls" else sample["label"]
        label = checked_line(got)
        ours, theirs = flat_logits(got["logits"]), flat_logits(sample["logits"])
        diff = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")
        results.append({"text": sample["text"], "expected_label": expected, "label": label,
                        "max_abs_logit_diff": diff, "ok": label == expected and diff <= atol})
    passed = sum(r["ok"] for r in results)
    return {"passed": passed == len(results), "n": len(results), "n_passed": passed, "atol": atol,
            "max_abs_logit_diff": max((r["max_abs_logit_diff"] for r in results), default=0.0),
            "failures": failed_samples(results), "results": results}


def failed_samples(results: list, limit: int = 3) -> str:
    """Which samples failed, each with the expected and actual label and its largest logit difference
    ("" when none did); run_on_board.py shows this line from the board's JSON."""
    failed = [(i, r) for i, r in enumerate(results, start=1) if not r["ok"]]
    parts = [f"sample {i} ({r['text'][:20]!r}): expected {r['expected_label']}, got {r['label']}, largest logit "
             f"difference {r['max_abs_logit_diff']:.2e}" for i, r in failed[:limit]]
    return "; ".join(parts) + (f"; and {len(failed) - limit} more" if len(failed) > limit else "")


class _EndToEnd:
    """One input through tokenizer, input arrays, the model and the softmax: what an app waits for."""

    def __init__(self, classifier: TextClassifier, text: str, text_pair: str | None):
        self.classifier, self.text, self.text_pair = classifier, text, text_pair

    def run(self, _inputs):
        return self.classifier.predict(self.text, self.text_pair)


def benchmark(classifier: TextClassifier, threads: int, warmup: int, repeats: int) -> dict:
    """Latency of batch 1 at the model's max_seq_len (full-length input, no padding): the model
    alone (top-level figures), and end to end from a text of that many tokens (``end_to_end``)."""
    ids = list(np.random.RandomState(0).randint(5, 100, size=classifier.max_seq_len))
    result = measure_latency(classifier.model, classifier.arrays([ids]), warmup, repeats)
    vocab = [t for t, _ in sorted(classifier.tokenizer.get_vocab().items(), key=lambda item: item[1])
             if len(t) == 1 and "\u4e00" <= t <= "\u9fff"] or ["a"]
    if classifier.text_pair:  # two halves: + [CLS] and two [SEP]
        chars = "".join(vocab[i % len(vocab)] for i in range(classifier.max_seq_len - 3))
        text, text_pair = chars[:len(chars) // 2], chars[len(chars) // 2:]
    else:  # + [CLS] and [SEP]
        text, text_pair = "".join(vocab[i % len(vocab)] for i in range(classifier.max_seq_len - 2)), None
    end_to_end = measure_latency(_EndToEnd(classifier, text, text_pair), {}, warmup, repeats)
    end_to_end["tokens"] = len(classifier.encode(text, text_pair))
    result.update({"threads": threads, "batch_size": 1, "seq_len": classifier.max_seq_len,
                   "machine": platform.machine(), "timed": "model", "end_to_end": end_to_end})
    return result


def _command_line_text(text: str, flag: str) -> str:
    """A --text / --text-pair value; bytes that are not UTF-8 (Python keeps them as surrogates) are refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PredictorError(f"{flag} {text.encode('utf-8', 'surrogateescape')[:30]!r} is not valid UTF-8. Give "
                             "the text in UTF-8 (check the terminal's or the calling program's encoding).") from None
    return text


def _iter_inputs(args, pairs: bool):
    """(text, text_pair or None) from --text [--text-pair] and --file (text_a<TAB>text_b lines for pairs)."""
    texts = [_command_line_text(t, "--text") for t in args.text or []]
    seconds = [_command_line_text(t, "--text-pair") for t in args.text_pair or []]
    if seconds and len(seconds) != len(texts):
        raise PredictorError(f"{len(texts)} --text but {len(seconds)} --text-pair: give one --text-pair after "
                             "each --text.")
    yield from zip(texts, seconds or [None] * len(texts))
    if args.file:
        with open(args.file, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise PredictorError(f"{args.file}, line {lineno}: not valid UTF-8. "
                                         "Re-save the file as UTF-8.") from None
                if not line.strip():
                    continue
                if not pairs:
                    yield line, None
                elif line.count("\t") != 1:
                    raise PredictorError(f"{args.file}, line {lineno}: a sentence-pair model reads "
                                         "text_a<TAB>text_b lines (one tab); this line has "
                                         f"{line.count(chr(9))}.")
                else:
                    yield tuple(line.split("\t"))


def _summary(result: dict) -> str:
    if "passed" in result:
        line = (f"self-check {'passed' if result['passed'] else 'FAILED'}: {result['n_passed']}/{result['n']} samples, "
                f"largest logit difference {result['max_abs_logit_diff']:.2e} (allowed {result['atol']:.0e})")
        return line if result["passed"] else f"{line}. Failed: {result['failures']}"
    e2e = result["end_to_end"]
    return (f"model: median {result['median_ms']} ms, p90 {result['p90_ms']} ms, min {result['min_ms']} ms; "
            f"end to end (tokenizer, model, softmax; {e2e['tokens']} tokens): median {e2e['median_ms']} ms, "
            f"p90 {e2e['p90_ms']} ms (batch 1, seq {result['seq_len']}, {result['threads']} threads, "
            f"{result['repeats']} runs)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Classify texts, or tag their tokens (entities with character "
                                     "offsets), with a Paddle Lite .nb model.")
    parser.add_argument("--model", required=True, help="model folder (model.nb, vocab.txt, "
                        f"{META_FILE}) or the .nb file inside it")
    parser.add_argument("--text", action="append", help="a text to classify (repeatable)")
    parser.add_argument("--text-pair", action="append", help="the second text of a sentence pair, one after "
                        "each --text (sentence-pair models)")
    parser.add_argument("--file", help="a UTF-8 file of texts, one per line (text_a<TAB>text_b for a "
                        "sentence-pair model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per text")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (ARM builds)")
    parser.add_argument("--selfcheck", help="a bundle's selfcheck.json: compare labels and logits, exit 1 on mismatch")
    parser.add_argument("--bench", action="store_true", help="time batch 1 at the model's max_seq_len: the "
                        "model alone, and end to end from a text (tokenizer and softmax included)")
    parser.add_argument("--warmup", type=int, default=10, help="--bench: untimed runs first")
    parser.add_argument("--repeats", type=int, default=50, help="--bench: timed runs")
    args = parser.parse_args(argv)
    if not (args.text or args.file or args.selfcheck or args.bench):
        parser.error("give --text, --file, --selfcheck or --bench")
    if args.threads < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error("--threads and --repeats must be at least 1, --warmup at least 0")
    if args.file and (not os.path.exists(args.file) or os.path.isdir(args.file)):
        parser.error(f"--file {args.file}: " + ("a folder, not a file" if os.path.isdir(args.file) else "no such file"))
    os.environ.update(mkl_avx2_env())
    try:
        classifier = TextClassifier(args.model, args.threads)
        if args.selfcheck or args.bench:
            result = self_check(classifier, args.selfcheck) if args.selfcheck else \
                benchmark(classifier, args.threads, args.warmup, args.repeats)
            print(json.dumps(result, ensure_ascii=False) if args.json else _summary(result), flush=True)
            return 1 if args.selfcheck and not result["passed"] else 0
        for text, text_pair in _iter_inputs(args, classifier.text_pair):
            result = classifier.predict(text, text_pair)
            if args.json:
                print(json.dumps(result, ensure_ascii=False), flush=True)
            elif "entities" in result:
                print(f"{entity_line(result['entities'])}\t{text}", flush=True)
            elif "intent" in result:
                print(f"{result['intent']}\t{result['probability']:.4f}\t{entity_line(result['slots'])}\t{text}",
                      flush=True)
            else:
                shown = text if text_pair is None else f"{text}\t{text_pair}"
                print(f"{result['label']}\t{result['probability']:.4f}\t{shown}", flush=True)
    except PredictorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
