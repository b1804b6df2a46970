"""Every file the tool reads has one reader that returns a value or raises the product's typed error:
never another exception, never a hang (Hypothesis, a per-example deadline).

Each reader gets arbitrary bytes, every truncation of a valid file, the valid file with a BOM
and other line endings, valid JSON with one field's type changed, and random Unicode. The
profile is chosen by HYPOTHESIS_PROFILE: "ci" (the default: a few minutes for the tier) or
"thorough" (ten times the examples, for local runs before a release).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppliteformer.device import _common
from ppliteformer.device.benchmark_bin_output import parse_benchmark_bin_output
from ppliteformer.device.lite_runtime import nb_targets
from ppliteformer.device.model_files import PredictorError, check_vocab, read_meta
from ppliteformer.device.predictor import read_selfcheck
from ppliteformer.errors import PPLiteFormerError

from .conftest import REPO, TINY_STRATEGY
from .test_deploy_arm import RESULT_TEXT

pytestmark = pytest.mark.unit

settings.register_profile("ci", max_examples=100, deadline=3000, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=3000,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

META = {"labels": ["negative", "positive"], "max_seq_len": 48, "do_lower_case": True, "pad_token": "[PAD]",
        "id_dtype": "int64", "target": "arm", "text_pair": False}
SELFCHECK = {"atol": 0.001, "samples": [{"text": "质量很好", "label": "positive", "logits": [-1.0, 1.0]},
                                        {"text": "太差", "text_pair": "好", "label": "negative", "logits": [1.0, -1.0]}]}
MANIFEST = {"stages": {"data": {"key": "0123456789abcdef", "seconds": 1.0, "finished_at": "2026-12-02 05:00:00",
                                "metrics": {"rows": 3}, "files": {"splits.json": "0" * 64}}}}


def _strategy(path: Path) -> bytes:
    return TINY_STRATEGY.format(data="/data/reviews.tsv").encode()  # read, not opened: the same bytes each time


def _load_strategy(path: Path):
    from ppliteformer.config.strategy import load_strategy

    return load_strategy(path)


def _load_data(path: Path):
    from ppliteformer.tasks.seq_data import load_file

    return load_file(path)


def _manifest(path: Path):
    from ppliteformer.pipeline.runner import Pipeline

    return Pipeline(path.parent, [])._manifest()


def _report(path: Path):
    from ppliteformer.report.render import read_report

    return read_report(path.parent)


def _bench_output(path: Path):
    try:
        return parse_benchmark_bin_output(path.read_bytes().decode("utf-8", "replace"))
    except ValueError as exc:  # the parser's documented error; run_on_android.py turns it into a ToolError
        raise _common.ToolError(str(exc)) from None


# name -> (file name, reader(path), the typed errors it may raise, a valid file's bytes given its path)
READERS = {
    "strategy_yaml": ("tiny.yaml", _load_strategy, PPLiteFormerError, _strategy),
    "tsv": ("d.tsv", _load_data, PPLiteFormerError, lambda p: "text\tlabel\n好\tpositive\n坏\tnegative\n".encode()),
    "pair_tsv": ("p.tsv", _load_data, PPLiteFormerError, lambda p: "好\t很好\tsame\n坏\t好\tdifferent\n".encode()),
    "jsonl": ("d.jsonl", _load_data, PPLiteFormerError,
              lambda p: '{"text": "好", "label": "positive"}\n{"text": "坏", "label": 1}\n'.encode()),
    "meta": ("ppliteformer_meta.json", lambda p: read_meta(p.parent), PredictorError,
             lambda p: json.dumps(META).encode()),
    "device_meta": ("ppliteformer_meta.json", lambda p: _common.read_model_meta(str(p.parent)), _common.ToolError,
                    lambda p: json.dumps(META).encode()),
    "selfcheck": ("selfcheck.json", lambda p: read_selfcheck(p, 2), PredictorError,
                  lambda p: json.dumps(SELFCHECK, ensure_ascii=False).encode()),
    "vocab": ("vocab.txt", check_vocab, PredictorError, lambda p: "[PAD]\n[CLS]\n[SEP]\n[UNK]\n[MASK]\n好\n".encode()),
    "manifest": ("manifest.json", _manifest, PPLiteFormerError, lambda p: json.dumps(MANIFEST).encode()),
    "report": ("report.json", _report, PPLiteFormerError,
               lambda p: (REPO / "benchmarks" / "full_recipe.json").read_bytes()),
    "nb": ("model.nb", nb_targets, PredictorError,  # a naive-buffer header and a topology naming an ARM kernel
           lambda p: b"\x01\x00" + b"v2.13-rc".ljust(16, b"\x00") + (20).to_bytes(8, "little")
           + b"fc/def/4/1/1".ljust(20) + bytes(16)),
    "benchmark_bin_output": ("result.txt", _bench_output, _common.ToolError,
                             lambda p: RESULT_TEXT.encode()),
}


@pytest.fixture
def folder(tmp_path):
    """A fresh folder per example (Hypothesis reuses the function's fixtures across examples)."""
    def make(index=[0]):  # noqa: B006 (a counter shared by one test's examples)
        index[0] += 1
        path = tmp_path / str(index[0])
        path.mkdir()
        return path
    return make


def _outcome(name: str, folder: Path, content: bytes):
    """The reader's value or its typed error; anything else fails the test with the input that caused it."""
    filename, reader, typed, _ = READERS[name]
    path = folder / filename
    path.write_bytes(content)
    try:
        return reader(path)
    except typed as exc:
        assert str(exc).strip() and len(str(exc)) < 3000, f"{name}: an empty or unbounded message"
        return exc


def _valid(name: str, folder: Path) -> bytes:
    return READERS[name][3](folder / READERS[name][0])


@pytest.mark.parametrize("name", sorted(READERS))
def test_the_valid_file_is_read(name, folder):
    assert not isinstance(_outcome(name, folder(), _valid(name, folder())), Exception)


@pytest.mark.parametrize("name", sorted(READERS))
@given(content=st.binary(max_size=3000))
def test_arbitrary_bytes_give_a_value_or_the_typed_error(name, folder, content):
    _outcome(name, folder(), content)


@pytest.mark.parametrize("name", sorted(READERS))
@given(data=st.data())
def test_every_truncation_gives_a_value_or_the_typed_error(name, folder, data):
    where = folder()
    valid = _valid(name, where)
    _outcome(name, where, valid[:data.draw(st.integers(0, len(valid)))])


@pytest.mark.parametrize("name", sorted(READERS))
@given(bom=st.booleans(), ending=st.sampled_from(["\n", "\r\n", "\r"]), text=st.text(max_size=200))
def test_boms_line_endings_and_random_unicode(name, folder, bom, ending, text):
    where = folder()
    valid = _valid(name, where).decode("utf-8").replace("\n", ending)
    _outcome(name, where, (b"\xef\xbb\xbf" if bom else b"") + valid.encode("utf-8"))
    _outcome(name, folder(), text.encode("utf-8", "surrogatepass"))


JSON_READERS = ["meta", "device_meta", "selfcheck", "manifest", "report"]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                             max_size=2))


@pytest.mark.parametrize("name", JSON_READERS)
@given(data=st.data(), value=JSON_VALUES)
def test_one_field_of_another_type_gives_a_value_or_the_typed_error(name, folder, data, value):
    where = folder()
    document = json.loads(_valid(name, where))
    paths = list(_paths(document))
    path = data.draw(st.sampled_from(paths))
    _set(document, path, value)
    _outcome(name, where, json.dumps(document).encode())


def _paths(node, prefix=()):
    """Every key path into a JSON document (the first three items of a list)."""
    items = node.items() if isinstance(node, dict) else enumerate(node[:3]) if isinstance(node, list) else []
    for key, child in items:
        yield prefix + (key,)
        yield from _paths(child, prefix + (key,))


def _set(document, path, value):
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


@pytest.mark.parametrize("content, message", [
    (b"\xef\xbb\xbftext\tlabel\n\xe5\xa5\xbd\tpositive\n\xe5\x9d\x8f\tnegative\n", None),  # a BOM before the header
    ("x" * 200_000 + "\tpositive\n好\tnegative\n", None),  # a long text, taken as JSONL takes it
    (b"a\x00b\tpositive\n", "line 1: contains a NUL byte"),
])
def test_the_named_tsv_cases(folder, content, message):
    result = _outcome("tsv", folder(), content if isinstance(content, bytes) else content.encode())
    if message is None:
        assert [e.label for e in result] == ["positive", "negative"] and not result[0].text.startswith("\ufeff")
    else:
        assert message in str(result)


@pytest.mark.parametrize("line, message", [
    ('{"text": "好", "label": ["positive"]}', "the label is a JSON list"),
    ('{"text": 12345, "label": "positive"}', "the text is a number, not a string"),
    ('{"text": "好", "label": true}', "the label is a true/false"),
])
def test_the_named_jsonl_cases(folder, line, message):
    assert message in str(_outcome("jsonl", folder(), line.encode()))


def test_yaml_bombs_and_depth_are_refused_quickly_with_a_short_message(folder):
    bomb = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    bomb += [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi")]
    cases = {"\n".join(bomb + ["name: *i"]): "aliases", "name: " + "[" * 30000 + "]" * 30000: "nested deeper",
             "chain: *undefined": "not valid YAML", "Chain: [distill]\nTeacher: {epochs: 1}\n": "lower case: 'chain'",
             "name: &n [1, 2]\n": "name: expected a non-empty string"}
    for text, message in cases.items():
        error = _outcome("strategy_yaml", folder(), text.encode())
        assert isinstance(error, PPLiteFormerError) and message in str(error) and len(str(error)) < 700, str(error)[:300]


def test_an_empty_selfcheck_or_a_sample_without_logits_fails_with_the_reason(folder):
    empty = _outcome("selfcheck", folder(), b'{"samples": []}')
    assert "no samples to check" in str(empty)
    no_logits = _outcome("selfcheck", folder(), b'{"samples": [{"text": "a", "label": "positive"}]}')
    assert "sample 1 needs" in str(no_logits) and "'logits'" in str(no_logits)


def test_a_folder_as_data_source_is_called_a_folder(tmp_path):
    from ppliteformer.pipeline.preflight import check_data_source

    with pytest.raises(PPLiteFormerError, match="is a folder; data.source must be a .tsv or .jsonl file in it"):
        check_data_source(str(tmp_path))
