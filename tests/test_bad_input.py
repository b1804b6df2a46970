"""Bad input across the CLI, strategy configs, data files and the standalone predictor.

Every case runs the real command in a child process and must end with exit code 2, one
clear message containing the expected words, and no Python traceback.
"""
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.tiny

PREDICT = REPO / "deploy" / "python" / "predict.py"


def _file(tmp, name, content):
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _strategy(tmp, yaml_text):
    return ["run", _file(tmp, "s.yaml", yaml_text), "--workdir", tmp / "work"]


def _with_data(tmp, name, content):
    return _strategy(tmp, f"data: {{source: {_file(tmp, name, content)}}}\n")


def _truncated_nb(tmp, model):
    data = (model / "x86" / "model.nb").read_bytes()
    return _file(tmp, "cut.nb", data[: len(data) * 2 // 3])


def _predictor_folder_without(tmp, model, missing):
    folder = tmp / "model"
    shutil.copytree(model / "x86", folder)
    (folder / missing).unlink()
    return folder


# (case id, builder(tmp, converted_model_root) -> argv, words the message must contain)
CASES = [
    # strategy files
    ("missing-yaml", lambda t, m: ["run", t / "nope.yaml"], "strategy file not found"),
    ("yaml-syntax", lambda t, m: _strategy(t, "teacher: {epochs: 3\n"), "not valid YAML"),
    ("yaml-not-mapping", lambda t, m: _strategy(t, "- a\n- b\n"), "must be a YAML mapping"),
    ("yaml-not-utf8", lambda t, m: ["run", _file(t, "s.yaml", b"name: \xff\xfe\n")], "not a UTF-8 text file"),
    ("unknown-section", lambda t, m: _strategy(t, "teachr: {}\n"), "unknown section 'teachr'"),
    ("unknown-key", lambda t, m: _strategy(t, "teacher: {epoch: 3}\n"), "unknown key 'epoch'"),
    ("wrong-type", lambda t, m: _strategy(t, "teacher: {batch_size: big}\n"), "expected an integer"),
    ("out-of-range-lr", lambda t, m: _strategy(t, "teacher: {learning_rate: 5}\n"), "learning_rate must be in"),
    ("bad-split", lambda t, m: _strategy(t, "data: {split: [0.5, 0.1, 0.1]}\n"), "split must be three fractions"),
    ("bad-target", lambda t, m: _strategy(t, "convert: {targets: [mips]}\n"), "drawn from arm, x86 and arm_fp16"),
    ("unknown-preset", lambda t, m: _strategy(t, "teacher: {preset: ernie-99l}\n"), "unknown preset 'ernie-99l'"),
    ("bad-until", lambda t, m: ["run", REPO / "strategies" / "baseline.yaml", "--until", "x"], "has no such stage"),
    ("workdir-is-a-file", lambda t, m: ["run", REPO / "strategies" / "baseline.yaml", "--workdir",
                                        _file(t, "f", "x"), "--until", "data"], "Cannot create the work directory"),
    # data files
    ("data-missing", lambda t, m: _strategy(t, f"data: {{source: {t / 'no.tsv'}}}\n"), "dataset file not found"),
    ("data-format", lambda t, m: _with_data(t, "d.csv", "a,b\n"), "unknown dataset format '.csv'"),
    ("data-empty", lambda t, m: _with_data(t, "d.tsv", "text\tlabel\n"), "the dataset is empty"),
    ("tsv-columns", lambda t, m: _with_data(t, "d.tsv", "好\tpositive\n坏\n"), "line 2: expected 2 tab-separated"),
    ("tsv-empty-label", lambda t, m: _with_data(t, "d.tsv", "好\tpositive\n坏\t \n"), "line 2: the label is empty"),
    ("tsv-not-utf8", lambda t, m: _with_data(t, "d.tsv", "好\tpositive\n".encode() + b"\xff\xfe\tneg\n"),
     "line 2: not valid UTF-8"),
    ("jsonl-syntax", lambda t, m: _with_data(t, "d.jsonl", '{"text": "好", "label": "p"}\n{"text": \n'),
     "line 2: not valid JSON"),
    ("jsonl-keys", lambda t, m: _with_data(t, "d.jsonl", '{"sentence": "好", "label": "p"}\n'),
     "line 1: expected an object with keys"),
    ("one-label", lambda t, m: _with_data(t, "d.tsv", "".join(f"好{i}\tpositive\n" for i in range(30))),
     "distinct label(s)"),
    # model folders and files
    ("teacher-folder-missing", lambda t, m: _strategy(t, f"teacher: {{source: {t / 'nomodel'}}}\n"),
     "no such model folder"),
    ("teacher-folder-not-a-model", lambda t, m: _strategy(t, f"teacher: {{source: {m}}}\n"), "is not a saved model"),
    ("convert-no-model", lambda t, m: ["convert", "--model", t, "--target", "arm", "--out", t / "o"],
     "model.pdmodel is missing"),
    ("bench-missing-nb", lambda t, m: ["bench", "--model", t / "none.nb"], "no such .nb file"),
    ("bench-not-nb", lambda t, m: ["bench", "--model", _file(t, "x.nb", "not a model")], "is not a Paddle Lite .nb"),
    ("bench-truncated-nb", lambda t, m: ["bench", "--model", _truncated_nb(t, m)], "Paddle Lite cannot load"),
    ("bench-arm-nb-on-x86", lambda t, m: ["bench", "--model", m / "arm" / "model.nb"], "converted for arm"),
    # standalone predictor
    ("predict-no-folder", lambda t, m: ["predict", "--model", t / "none", "--text", "好"], "not found"),
    ("predict-no-vocab", lambda t, m: ["predict", "--model", _predictor_folder_without(t, m, "vocab.txt"),
                                       "--text", "好"], "vocab.txt not found"),
    ("predict-empty-text", lambda t, m: ["predict", "--model", m / "x86", "--text", "   "], "The text is empty"),
    ("predict-file-not-utf8", lambda t, m: ["predict", "--model", m / "x86", "--file",
                                            _file(t, "in.txt", "好\n".encode() + b"\xc3\x28\n")],
     "line 2: not valid UTF-8"),
    ("predict-arm-nb", lambda t, m: ["predict", "--model", m / "arm", "--text", "好"], "converted for arm"),
    ("predict-missing-file", lambda t, m: ["predict", "--model", m / "x86", "--file", t / "none.txt"],
     "no such file"),
]


def _command(argv):
    if argv[0] == "predict":  # the file that ships to devices, run on its own
        return [sys.executable, str(PREDICT), *map(str, argv[1:])]
    return [sys.executable, "-m", "ppliteformer.cli", *map(str, argv)]


@pytest.mark.parametrize("builder, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error(builder, fragment, tiny_run, tmp_path):
    workdir, _ = tiny_run
    proc = subprocess.run(_command(builder(tmp_path, workdir / "convert")), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert fragment in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "work" / "report.json").exists()

