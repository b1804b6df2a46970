import json

import pytest

from ppliteformer.tasks.seq_data import load_file, load_splits, split_dataset, Example
from ppliteformer.errors import DataError

pytestmark = pytest.mark.unit


def test_builtin_corpus_is_deduplicated_and_split_without_leaks():
    splits = load_splits("builtin")
    stats = splits.stats
    assert stats["rows"] > 35000 and stats["distinct_texts"] < 17500
    assert stats["contradictory_dropped"] > 0
    texts = {name: {e.text for e in getattr(splits, name)} for name in ("train", "dev", "test")}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["dev"] and not texts["dev"] & texts["test"]
    assert stats["train"] + stats["dev"] + stats["test"] == stats["kept"]
    # stratified: each split's positive share is within a point of the whole
    share = {n: sum(e.label == "positive" for e in getattr(splits, n)) / len(getattr(splits, n)) for n in texts}
    assert max(share.values()) - min(share.values()) < 0.01


def test_split_is_deterministic_and_seed_dependent():
    examples = [Example(f"text {i}", "a" if i % 3 else "b") for i in range(300)]
    one, two = split_dataset(examples, seed=1), split_dataset(examples, seed=1)
    other = split_dataset(examples, seed=2)
    assert [e.text for e in one.test] == [e.text for e in two.test]
    assert [e.text for e in one.test] != [e.text for e in other.test]


def test_contradictory_texts_are_dropped():
    examples = [Example("same", "a"), Example("same", "b")] + [Example(f"t{i}", "ab"[i % 2]) for i in range(40)]
    splits = split_dataset(examples)
    assert "same" not in {e.text for e in splits.train + splits.dev + splits.test}
    assert splits.stats["contradictory_dropped"] == 1


def test_tsv_and_jsonl_give_the_same_examples(tmp_path):
    rows = [("好评", "pos"), ("差评", "neg")]
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows),
                     encoding="utf-8")
    assert load_file(tsv) == load_file(jsonl) == [Example(t, l) for t, l in rows]


@pytest.mark.parametrize("name, content, fragment", [
    ("bad.tsv", "ok\tpos\nno label column\nfine\tneg\n", "line 2: expected 2 tab-separated columns"),
    ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"\n', "line 2: not valid JSON"),
    ("bad2.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', "line 2: expected an object with keys"),
    ("empty.tsv", "", "the dataset is empty"),
    ("blank.tsv", "a\tpos\n \tneg\n", "line 2: the text is empty"),
    ("d.csv", "a,b\n", "unknown dataset format"),
])
def test_malformed_files_name_the_line(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=fragment):
        load_file(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes("好\tpos\n".encode() * 3 + b"\xff\xfe\tneg\n")
    with pytest.raises(DataError, match="line 4: not valid UTF-8"):
        load_file(path)


def test_a_single_label_is_refused():
    with pytest.raises(DataError, match="at least 2"):
        split_dataset([Example(f"t{i}", "only") for i in range(20)])
