"""deploy/python/predict.py runs with its sibling files alone: paddle, paddlenlp and ppliteformer blocked."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ppliteformer.models.modeling import load_tokenizer
from ppliteformer.layout import NB_FILE
from ppliteformer.runtimes.host import open_lite
from ppliteformer.device.lite_runtime import batch_arrays

from .conftest import REPO

pytestmark = pytest.mark.tiny

DEVICE_FILES = ("predict.py", "lite_runtime.py", "model_files.py", "tag_spans.py")  # deploy/python/

BLOCKER = """
import os, runpy, sys

class BlockHeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('paddle', 'paddlenlp', 'paddleslim', 'ppliteformer'):
            raise ImportError(name + ' is blocked: the standalone predictor must not need it')
sys.meta_path.insert(0, BlockHeavyImports())
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as 'python predict.py' does
runpy.run_path(script, run_name='__main__')
"""


@pytest.fixture(scope="module")
def deployed(tiny_run, tmp_path_factory):
    """The predictor and its sibling files copied out of the repo, as a user would copy them to a board."""
    folder = tmp_path_factory.mktemp("device")
    for name in DEVICE_FILES:
        shutil.copy(REPO / "deploy" / "python" / name, folder / name)
    return folder / "predict.py", tiny_run[0] / "convert" / "x86"


def run_predictor(script, *args):
    return subprocess.run([sys.executable, "-c", BLOCKER, str(script), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_predict_text_json_matches_the_pipeline_logits(deployed, tiny_run):
    script, model_dir = deployed
    text = "质量很好，物流也快，下次还买"
    proc = run_predictor(script, "--model", model_dir, "--text", text, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["label"] in ("negative", "positive") and 0.5 <= result["probability"] <= 1
    tokenizer = load_tokenizer(str(tiny_run[0] / "export"))
    ids = tokenizer(text, max_length=48, truncation=True)["input_ids"]
    (expected,) = open_lite(model_dir / NB_FILE).run(batch_arrays([ids]))  # one output: [1, classes]
    expected = expected[0]
    np.testing.assert_allclose(result["logits"], expected, atol=1e-6)


def test_predict_file_of_texts_plain_output(deployed, tmp_path):
    script, model_dir = deployed
    texts = tmp_path / "texts.txt"
    texts.write_text("很好\n\n太差了，退货\nGood value 👍\n", encoding="utf-8")
    proc = run_predictor(script, "--model", model_dir / NB_FILE, "--file", texts)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3  # the blank line is skipped
    label, probability, text = lines[1].split("\t")
    assert label in ("negative", "positive") and 0.5 <= float(probability) <= 1 and text == "太差了，退货"


def test_invalid_utf8_line_is_named(deployed, tmp_path):
    script, model_dir = deployed
    texts = tmp_path / "bad.txt"
    texts.write_bytes("好\n".encode() + b"\xff\xfe\n")
    proc = run_predictor(script, "--model", model_dir, "--file", texts)
    assert proc.returncode == 2 and "line 2: not valid UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_folder_without_vocab_is_a_clear_error(deployed, tmp_path):
    script, model_dir = deployed
    shutil.copy(model_dir / NB_FILE, tmp_path / NB_FILE)
    proc = run_predictor(script, "--model", tmp_path, "--text", "好")
    assert proc.returncode == 2 and "vocab.txt not found" in proc.stderr and "Traceback" not in proc.stderr


def test_long_text_is_truncated_with_a_warning(deployed):
    script, model_dir = deployed
    proc = run_predictor(script, "--model", model_dir, "--text", "很好" * 200, "--json")
    assert proc.returncode == 0 and "truncated" in proc.stderr


def test_interactive_demo_answers_each_line_until_an_empty_one(tiny_run):
    model_dir = tiny_run[0] / "convert" / "x86"
    proc = subprocess.run([sys.executable, str(REPO / "demo" / "interactive.py"), str(model_dir)],
                          input="质量很好\nterrible 太差了\n\nnot read\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answers = [line for line in proc.stdout.split("> ") if " p=" in line]
    assert len(answers) == 2  # the empty line ended it
    for answer in answers:
        label, probability, latency = answer.split()[:3]  # "positive  p=0.928  5.9 ms"
        assert label in ("negative", "positive") and 0.5 <= float(probability[2:]) <= 1 and float(latency) > 0


def test_input_that_is_not_utf8_is_refused_and_stdin_is_a_file(deployed):
    script, model_dir = deployed
    bad = subprocess.run([sys.executable, "-c", BLOCKER, str(script), "--model", str(model_dir), "--text",
                          b"\xff\xfe\xe5\xa5", "--json"], capture_output=True, timeout=120)
    assert bad.returncode == 2 and b"is not valid UTF-8" in bad.stderr and b"Traceback" not in bad.stderr
    assert bad.stdout == b""  # nothing half-classified, no invalid UTF-8 written as JSON
    piped = subprocess.run([sys.executable, "-c", BLOCKER, str(script), "--model", str(model_dir), "--file",
                            "/dev/stdin"], input="质量很好\n太差了\n".encode(), capture_output=True, timeout=120)
    assert piped.returncode == 0 and len(piped.stdout.decode().splitlines()) == 2, piped.stderr


def test_a_damaged_vocab_or_meta_is_one_line_naming_the_file(deployed, tmp_path):
    script, model_dir = deployed
    for damage in ("vocab", "meta"):
        folder = tmp_path / damage
        shutil.copytree(model_dir, folder)
        if damage == "vocab":
            (folder / "vocab.txt").write_text("")
        else:
            meta = (folder / "ppliteformer_meta.json").read_bytes()
            (folder / "ppliteformer_meta.json").write_bytes(meta[:len(meta) // 2])
        proc = run_predictor(script, "--model", folder, "--text", "好")
        name = "vocab.txt" if damage == "vocab" else "ppliteformer_meta.json"
        assert proc.returncode == 2 and name in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr


def test_predict_py_without_its_sibling_files_says_which_is_missing(deployed, tmp_path):
    script, model_dir = deployed
    shutil.copy(script, tmp_path / "predict.py")
    proc = run_predictor(tmp_path / "predict.py", "--model", model_dir, "--text", "质量很好")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "lite_runtime.py is missing beside" in proc.stderr and "copy the bundle folder" in proc.stderr
