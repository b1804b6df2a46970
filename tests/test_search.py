"""`ppliteformer search`: the space, the halving, and a tiny search end to end on the ARM kernels."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppliteformer.errors import ConfigError
from ppliteformer.search.driver import PROBE_MARGIN, Search, dominates, pareto_front, promote
from ppliteformer.search.settings import parse_search
from ppliteformer.search.space import PROBE_EPOCHS, Candidate, candidate_mapping, candidates

from .test_arm import MISSING

CLI = [sys.executable, "-m", "ppliteformer.cli"]
TINY_SEARCH = """
name: tiny_search
workdir: {workdir}
data: {{source: {data}, max_seq_len: 48, seed: 7}}
teacher: {{preset: ernie-tiny-test, epochs: 5, batch_size: 16, learning_rate: 5.0e-3}}
bench: {{seq_len: 48, repeats: 5, warmup: 1}}
convert: {{targets: [arm, x86]}}
arm: {{min_texts: 8, time_budget_s: 5}}
distill: {{epochs: 4, batch_size: 16, learning_rate: 5.0e-3, alpha: 0.5}}
qat: {{epochs: 1, batch_size: 16}}
search:
  max_nb_bytes: {max_nb_bytes}
  max_drop: 50
  layers: [1]
  hidden_size: [32]
  prune_keep: [1.0]
  trim_vocab: [true]
  int8: [none, embedding+qat]
  max_minutes: 20
  low_fidelity: 0.5
  promote: 0.5
"""


def write_search(folder: Path, data: Path, max_nb_bytes: int = 10_000_000) -> Path:
    path = folder / "search.yaml"
    path.write_text(TINY_SEARCH.format(workdir=folder / "work", data=data, max_nb_bytes=max_nb_bytes),
                    encoding="utf-8")
    return path


# --- the space and the halving, without Paddle ---------------------------------------------------------

@pytest.mark.unit
def test_the_space_makes_each_recipe_once_and_fp16_only_for_float_finals():
    cfg = parse_search({"layers": [2], "hidden_size": [32, 64], "prune_keep": [1.0, 0.5], "trim_vocab": [True],
                        "int8": ["embedding", "qat"], "fp16": [False, True]}, Path("s.yaml"))
    found = candidates(cfg)
    # per width and keep: embedding fp32, embedding fp16, qat (its fp16 twin is the same recipe)
    assert len(found) == 2 * 2 * 3 and len({c.name for c in found}) == len(found)
    assert not any(c.fp16 and c.int8_program for c in found)
    pruned_qat = next(c for c in found if c.hidden_size == 64 and c.keep == 0.5 and c.int8 == "qat")
    assert pruned_qat.chain == ["distill", "prune", "trim_vocab", "qat"]
    assert candidates(cfg) == found, "the order is drawn from the seed: the same each time"


@pytest.mark.unit
def test_a_candidate_mapping_scales_training_and_the_probe_takes_one_step():
    cfg = parse_search({"seed": 3}, Path("s.yaml"))
    base = {"name": "s", "distill": {"epochs": 3, "control": True, "alpha": 0.3}, "prune": {"epochs": 2},
            "qat": {"epochs": 1}, "convert": {"targets": ["arm", "x86", "arm_fp16"]}}
    candidate = Candidate(2, 64, 0.5, True, "embedding+qat", "", False)
    rung1 = candidate_mapping(base, candidate, cfg, 0.34, "s-c", "w")
    assert rung1["chain"] == ["distill", "prune", "trim_vocab", "embedding_int8", "qat"]
    assert rung1["distill"] == {"epochs": 1.02, "control": False, "alpha": 0.3, "seed": 3, "layers": 2,
                                "hidden_size": 64, "heads": 2, "ffn_size": 256}
    assert rung1["prune"]["head_keep_ratio"] == rung1["prune"]["ffn_keep_ratio"] == 0.5
    assert rung1["convert"]["targets"] == ["arm", "x86"], "fp16 only for an fp16 candidate"
    probe = candidate_mapping(base, candidate, cfg, None, "s-c", "w")
    assert probe["teacher"]["epochs"] == probe["distill"]["epochs"] == probe["qat"]["epochs"] == PROBE_EPOCHS
    assert probe["prune"]["importance_batches"] == 1


@pytest.mark.unit
def test_promotion_takes_the_non_dominated_first_then_the_best_dev_metric():
    figures = {"a": {"dev_metric": 0.80, "instructions": 5, "nb_bytes": 5},
               "b": {"dev_metric": 0.79, "instructions": 6, "nb_bytes": 6},   # dominated by a
               "c": {"dev_metric": 0.70, "instructions": 1, "nb_bytes": 1},
               "d": {"dev_metric": 0.82, "instructions": 9, "nb_bytes": 9}}
    assert dominates(figures["a"], figures["b"], "dev_metric") and not dominates(figures["a"], figures["c"], "dev_metric")
    assert sorted(pareto_front(figures)) == ["a", "c", "d"]
    assert promote(list(figures), figures, 0.5) == ["d", "a"]
    assert promote(list(figures), figures, 0.75) == ["d", "a", "c"], "b, dominated, goes last"


@pytest.mark.unit
@pytest.mark.parametrize("section, message", [
    ({"max_drop": 1, "speed": 2}, "unknown key 'speed'"),
    ({"hidden_size": [48]}, "multiple of 32"),
    ({"int8": ["int4"]}, "drawn from none, embedding, qat"),
    ({"instructions_at": "p90"}, "one of bench, median"),
    ({"max_minutes": 0}, "max_minutes: expected a number in [1,"),
])
def test_a_bad_search_section_names_the_key(section, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_search(section, Path("s.yaml"))


@pytest.mark.unit
def test_search_and_run_each_refuse_the_others_file(tmp_path):
    strategy = tmp_path / "plain.yaml"
    strategy.write_text("name: plain\nchain: [distill]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'search' section"):
        Search(strategy)
    strategy.write_text("name: s\nchain: [distill]\nsearch: {max_drop: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has no chain"):
        Search(strategy)
    done = subprocess.run(CLI + ["run", str(strategy)], capture_output=True, text=True)
    assert done.returncode == 2 and "ppliteformer search" in done.stderr and "Traceback" not in done.stderr


# --- a tiny search on the real stack -------------------------------------------------------------------

needs_arm = pytest.mark.skipif(bool(MISSING), reason=f"no ARM toolchain here: {'; '.join(MISSING)}")


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory, corpus_tsv):
    folder = tmp_path_factory.mktemp("search")
    path = write_search(folder, corpus_tsv)
    done = subprocess.run(CLI + ["search", str(path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = next((folder / "work").glob("search-*"))
    return path, folder / "work", results, json.loads((results / "search.json").read_text()), done.stdout


@pytest.mark.tiny
@needs_arm
def test_a_tiny_search_chooses_on_dev_and_measures_test_only_for_the_front(tiny_search):
    _, _, results, result, out = tiny_search
    statuses = {name: c["status"] for name, c in result["candidates"].items()}
    assert sorted(statuses) == ["1x32-trim", "1x32-trim-embedding_qat"]
    assert list(statuses.values()).count("chosen") == 1 and result["chosen"] in statuses
    for name, candidate in result["candidates"].items():
        figures = candidate["figures"]
        assert set(figures) >= {"probe", "rung1"}
        tested = "test_metric" in figures.get("rung2", {})
        assert tested == (name in result["front"]), f"{name}: the test split is read for the front only"
        assert all("test" not in key for rung in ("probe", "rung1") for key in figures[rung])
    chosen = result["candidates"][result["chosen"]]["figures"]
    assert 0 <= chosen["rung2"]["dev_metric"] <= 1 and result["teacher_dev_metric"] > 0.5
    assert f"chosen {result['chosen']}" in out


@pytest.mark.tiny
@needs_arm
def test_size_and_arm_cost_from_the_probe_are_those_of_the_trained_model(tiny_search):
    """What lets the search drop a candidate before training: its .nb's bytes and instructions hardly depend
    on its weights, so the one-step probe measures what the full-epochs model has, within the margin the
    search allows (PROBE_MARGIN)."""
    _, _, _, result, _ = tiny_search
    for name, candidate in result["candidates"].items():
        for rung in ("rung1", "rung2"):
            if rung in candidate["figures"]:
                probe, trained = candidate["figures"]["probe"], candidate["figures"][rung]
                for figure in ("instructions", "nb_bytes"):
                    assert abs(trained[figure] - probe[figure]) <= PROBE_MARGIN * probe[figure], (name, rung, figure)


@pytest.mark.tiny
@needs_arm
def test_candidates_share_the_teacher_and_each_distilled_student(tiny_search):
    _, work, _, _, _ = tiny_search
    # one teacher for both rungs and one for the probe; one student per fidelity (probe, rung 1, rung 2),
    # shared by both candidates
    assert len(list(work.glob("teacher-*"))) == 2
    assert len(list(work.glob("distill-*"))) == 3


@pytest.mark.tiny
@needs_arm
def test_the_chosen_candidate_has_its_run_bundle_and_a_strategy_that_reproduces_it(tiny_search):
    _, _, results, result, _ = tiny_search
    report = json.loads((results / "chosen" / "report.json").read_text())
    final = next(a for a in report["artifacts"] if a["name"] == report["final"])
    assert final["accuracy_arm"] is not None, "the chosen model ran on the ARM kernels"
    assert list((results / "chosen" / "bundle").glob("*-arm"))
    assert "search.html" in os.listdir(results) and "<svg" in (results / "search.html").read_text()
    done = subprocess.run(CLI + ["run", str(results / "chosen.yaml")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "] running" not in done.stdout, "every stage of the chosen candidate's strategy is reused"


@pytest.mark.tiny
@needs_arm
def test_an_impossible_budget_is_refused_before_training_with_the_smallest_reachable(tmp_path, corpus_tsv,
                                                                                      tiny_search):
    path = write_search(tmp_path, corpus_tsv, max_nb_bytes=1000)
    done = subprocess.run(CLI + ["search", str(path), "--workdir", str(tiny_search[1])], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nothing in the search space fits the budget" in done.stderr and "the smallest is" in done.stderr
    smallest = min(c["figures"]["probe"]["nb_bytes"] for c in tiny_search[3]["candidates"].values())
    assert f"{smallest:,} bytes" in done.stderr


@pytest.mark.tiny
@needs_arm
def test_a_search_killed_mid_rung_resumes_where_it_was(tmp_path, corpus_tsv):
    path = write_search(tmp_path, corpus_tsv)
    work = tmp_path / "work"
    proc = subprocess.Popen(CLI + ["search", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:  # until rung 1 has measured a candidate
        manifest = work / "manifest.json"
        records = json.loads(manifest.read_text())["stages"] if manifest.is_file() else {}
        if sum(name.startswith("measure-") for name in records) >= 3:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = json.loads((work / "manifest.json").read_text())["stages"]
    done = subprocess.run(CLI + ["search", str(path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    after = json.loads((work / "manifest.json").read_text())["stages"]
    assert all(after[name]["finished_at"] == record["finished_at"] for name, record in before.items()), \
        "every stage finished before the kill is reused"
    assert not list(work.glob(".*.tmp-*"))


@pytest.mark.tiny
@needs_arm
def test_a_token_task_is_searched_on_its_own_metric(tmp_path, ner_conll):
    from .conftest import NER_STRATEGY

    path = tmp_path / "ner_search.yaml"
    path.write_text(NER_STRATEGY.format(data=ner_conll) + f"workdir: {tmp_path / 'work'}\n" + """
distill: {epochs: 2, batch_size: 16, learning_rate: 5.0e-3}
search: {layers: [1], hidden_size: [32], prune_keep: [1.0], int8: [none, embedding], max_drop: 100}
""", encoding="utf-8")
    done = subprocess.run(CLI + ["search", str(path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(next((tmp_path / "work").glob("search-*/search.json")).read_text())
    assert result["task"] == "token_cls" and result["metric"] == "span_f1"
    assert "dev span_f1" in done.stdout and result["chosen"] in result["candidates"]
