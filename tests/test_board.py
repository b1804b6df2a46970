"""The documented board workflow against an emulated aarch64 Debian board over real ssh
(tests/emulated_board.py): run_on_board.py as a user runs it, from inside a bundle, for an
fp32, an int8, a sentence-pair, an fp16 (sentence-pair), a named-entity and an intent + slots bundle;
predict.py on the board, which has no paddlelite and no libgomp1. The board's qemu is an ARMv8.2-A core
with FP16 (``-cpu max``); ``QEMU_CPU=cortex-a53`` in a command makes it an ARMv8.0 one without."""
import json
import shutil
import subprocess
import sys

import pytest

from ppliteformer.arm.toolchain import missing_parts

from . import emulated_board
from .conftest import TINY_STRATEGY

pytestmark = pytest.mark.tiny

WHY_NOT = "; ".join(missing_parts() + missing_parts(fp16=True)) or emulated_board.missing()
needs_board = pytest.mark.skipif(bool(WHY_NOT), reason=f"no emulated ARM board here: {WHY_NOT}")
REMOTE = "/tmp/ppliteformer_bundle"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    if WHY_NOT:
        pytest.skip(f"no emulated ARM board here: {WHY_NOT}")
    running = emulated_board.EmulatedBoard(tmp_path_factory.mktemp("board-keys")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, corpus_tsv, pair_run, ner_run, slu_run):
    """{"fp32": teacher-arm, "int8": qat-arm, "x86": teacher-x86} bundles of one tiny run, the final arm
    bundles of the sentence-pair run ("pair"), the named-entity run ("ner") and the intent + slots run ("slu"),
    and the pair run's last float model in fp16 ("fp16")."""
    from ppliteformer.arm.toolchain import ensure_toolchain
    from ppliteformer.pipeline.bundle import make_bundle
    from ppliteformer.pipeline.workflow import run_strategy

    strategy = tmp_path_factory.mktemp("strategy") / "qat.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "chain: [qat]\nqat: {epochs: 1}\n", encoding="utf-8")
    workdir = tmp_path_factory.mktemp("work")
    report = run_strategy(strategy, workdir=workdir)
    assert report.final == "qat" and report.artifact("qat").int8
    teacher = make_bundle(workdir, "teacher", workdir / "bundle", arm_toolchain=ensure_toolchain())
    pair_workdir, pair_report = pair_run
    fp16 = make_bundle(pair_workdir, pair_report.final_fp32, tmp_path_factory.mktemp("fp16"),
                       arm_toolchain=ensure_toolchain(), arm_fp16_toolchain=ensure_toolchain(fp16=True))
    return {"fp16": next(b for b in fp16 if b.name.endswith("-arm_fp16")),"fp32": workdir / "bundle" / "teacher-arm", "int8": workdir / "bundle" / "qat-arm",
            "x86": next(b for b in teacher if b.name == "teacher-x86"),
            "pair": pair_workdir / "bundle" / f"{pair_report.final}-arm",
            "ner": ner_run[0] / "bundle" / f"{ner_run[1].final}-arm",
            "slu": slu_run[0] / "bundle" / f"{slu_run[1].final}-arm"}


def run_on_board(board, bundle, out, *extra):
    """run_on_board.py as a user runs it: the copy inside the bundle, by the system's Python."""
    opts = [arg for opt in board.ssh_opts for arg in ("--ssh-opt", opt)]
    return subprocess.run([sys.executable, str(bundle / "run_on_board.py"), "--bundle", str(bundle), "--host",
                           board.host, *opts, "--warmup", "1", "--repeats", "3", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900)


@needs_board
@pytest.mark.parametrize("kind", ["fp32", "int8", "pair", "fp16", "ner", "slu"])
def test_run_on_board_self_checks_and_times_the_bundle_on_the_board(board, bundles, kind, tmp_path):
    done = run_on_board(board, bundles[kind], tmp_path / "board.json")
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "board.json").read_text())
    check = result["selfcheck"]
    assert check["passed"] and check["n"] == check["n_passed"] == 8 and check["max_abs_logit_diff"] <= 1e-3
    assert "aarch64" in result["device"]["uname"] and result["latency"]["median_ms"] > 0
    shipped = board.ssh(f"ls {REMOTE}/lib").stdout.split()
    assert sorted(shipped) == ["libgomp.so.1", "libpaddle_light_api_shared.so", "libppl_lite.so"]
    board_has = board.ssh("python3 -c 'import paddlelite'; ls /usr/lib/aarch64-linux-gnu")
    assert "No module named 'paddlelite'" in board_has.stderr and "libgomp.so.1" not in board_has.stdout.split()
    pair = " --text-pair 太差了" if kind in ("pair", "fp16") else ""
    text = board.ssh(f"cd {REMOTE} && python3 predict.py --model . --text 质量很好{pair}")
    assert text.returncode == 0, text.stderr
    if kind == "ner":  # entities (or "-") and the text
        assert text.stdout.strip().split("\t")[-1] == "质量很好"
    elif kind == "slu":  # the intent, its probability, the slots (or "-") and the text
        intent, probability, _, echoed = text.stdout.strip().split("\t")
        assert intent.startswith("atis_") and 0 < float(probability) <= 1 and echoed == "质量很好", text.stdout
    else:
        label, probability, *echoed = text.stdout.strip().split("\t")
        labels = ("different", "same") if kind in ("pair", "fp16") else ("negative", "positive")
        assert label in labels and 0.5 <= float(probability) <= 1, text.stdout
    assert text.stderr == "", "Paddle Lite's [I ...] log lines (or anything else) reached the user's screen"


@needs_board
def test_an_fp16_bundle_refuses_an_armv8_0_core_in_one_line_instead_of_an_illegal_instruction(board, bundles,
                                                                                               tmp_path):
    from ppliteformer.arm.toolchain import CHECKOUT_LITE_FP16, LITE_LIBRARY

    bundle = bundles["fp16"]
    assert (bundle / "lib" / LITE_LIBRARY).read_bytes() == (CHECKOUT_LITE_FP16 / "lib" / LITE_LIBRARY).read_bytes()
    meta = json.loads((bundle / "ppliteformer_meta.json").read_text())
    assert meta["precision"] == "fp16" and "ARMv8.2-A" in meta["min_cpu"]
    assert "ARMv8.2-A" in (bundle / "README.txt").read_text()
    assert run_on_board(board, bundle, tmp_path / "board.json").returncode == 0  # copies it; -cpu max has FP16
    refused = board.ssh(f"cd {REMOTE} && QEMU_CPU=cortex-a53 python3 predict.py --model . --text 好 --text-pair 好")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "fp16 model" in refused.stderr and "lacks asimdhp and fphp" in refused.stderr
    assert "Illegal instruction" not in refused.stderr and "Traceback" not in refused.stderr


@needs_board
def test_a_library_missing_on_the_board_is_one_line_naming_it_and_its_package(board, bundles, tmp_path):
    assert run_on_board(board, bundles["int8"], tmp_path / "board.json").returncode == 0
    board.ssh(f"mv {REMOTE}/lib/libgomp.so.1 {REMOTE}/libgomp.so.1.away")
    missing = board.ssh(f"cd {REMOTE} && python3 predict.py --model . --text 好")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "libgomp.so.1" in missing.stderr and "apt install libgomp1" in missing.stderr
    board.ssh(f"mv {REMOTE}/lib/libppl_lite.so {REMOTE}/libppl_lite.so.away")
    no_shim = board.ssh(f"cd {REMOTE} && python3 predict.py --model . --text 好")
    assert no_shim.returncode == 2 and "PPLITEFORMER_LITE_SHIM" in no_shim.stderr and "Traceback" not in no_shim.stderr


@needs_board
def test_a_failing_self_check_names_the_sample_labels_and_difference(board, bundles, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bundles["fp32"], bundle)
    check = json.loads((bundle / "selfcheck.json").read_text())
    check["samples"][2]["logits"][0] += 0.5
    (bundle / "selfcheck.json").write_text(json.dumps(check))
    done = run_on_board(board, bundle, tmp_path / "board.json")
    assert done.returncode == 1 and (tmp_path / "board.json").is_file()
    assert "sample 3" in done.stderr and f"expected {check['samples'][2]['label']}" in done.stderr
    assert "largest logit difference 5.0" in done.stderr, done.stderr


@needs_board
def test_an_x86_bundle_is_refused_before_the_board_is_touched(board, bundles, tmp_path):
    done = run_on_board(board, bundles["x86"], tmp_path / "board.json", "--remote-dir", "/tmp/never_made")
    assert done.returncode == 2 and "converted for x86" in done.stderr and "Traceback" not in done.stderr
    assert board.ssh("test -e /tmp/never_made").returncode == 1 and not (tmp_path / "board.json").exists()


@needs_board
def test_a_bundle_without_lib_says_paddlelite_has_no_aarch64_wheel(board, bundles, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bundles["fp32"], bundle, ignore=shutil.ignore_patterns("lib"))
    done = run_on_board(board, bundle, tmp_path / "board.json")
    assert done.returncode == 2 and "'paddlelite'" in done.stderr and "no lib/" in done.stderr
    assert "Traceback" not in done.stderr
