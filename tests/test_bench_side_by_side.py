"""`ppliteformer bench`: Paddle Lite x86, Paddle Inference and ONNX Runtime side by side.

One tiny pruned ERNIE (2 layers, hidden 32, heads [1, 2], FFN [32, 64]) is exported once;
one full three-engine run through the CLI is shared by the checks on its JSON.
"""
import json
import re
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from ppliteformer.bench.latency import synthetic_inputs
from ppliteformer.bench.cpu_fp32_peak import cpu_peak, flops_per_cycle
from ppliteformer.bench.side_by_side import ENGINES, LOGITS_TOLERANCE, run_engine
from ppliteformer.errors import ModelFileError, StageError
from ppliteformer.device.lite_runtime import cpu_vendor
from ppliteformer.models.flops import encoder_flops, matmul_op_flops, program_matmul_flops

pytestmark = pytest.mark.tiny

BATCH, SEQ = 2, 16
HEADS, FFN = [1, 2], [32, 64]


def ppliteformer(*args):
    return subprocess.run([sys.executable, "-m", "ppliteformer.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A pruned tiny ERNIE classifier exported as export_model does: program, params and meta."""
    import paddle
    from paddlenlp.transformers import ErnieConfig, ErnieForSequenceClassification

    from ppliteformer.compression.quantization import input_specs
    from ppliteformer.device.lite_runtime import INPUT_NAMES
    from ppliteformer.device.model_files import META_FILE
    from ppliteformer.models.structure import apply_widths, describe

    out = tmp_path_factory.mktemp("export")
    paddle.seed(3)
    config = ErnieConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, num_labels=3,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    model = ErnieForSequenceClassification(config)
    apply_widths(model, HEADS, FFN)
    model.eval()
    specs = input_specs()
    paddle.jit.save(paddle.jit.to_static(model, input_spec=specs, full_graph=True), str(out / "model"),
                    input_spec=specs)
    meta = {"labels": ["a", "b", "c"], "max_seq_len": 64, "do_lower_case": True, "pad_token": "[PAD]",
            "inputs": list(INPUT_NAMES), "model_config": model.config.to_dict(), "structure": describe(model)}
    (out / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def arm_nb(tiny_export, tmp_path_factory):
    from ppliteformer.runtimes.lite_convert import convert_model

    return convert_model(tiny_export, tmp_path_factory.mktemp("arm"), "arm")


@pytest.fixture(scope="module")
def cli_run(tiny_export, tmp_path_factory):
    """(process, JSON file, its content then) of one three-engine bench through the console script."""
    out = tmp_path_factory.mktemp("bench") / "side_by_side.json"
    proc = ppliteformer("bench", "--model", tiny_export, "--batch-size", BATCH, "--seq-len", SEQ,
                        "--warmup", 1, "--repeats", 3, "--threads", 1, "--out", out)
    return proc, out, json.loads(out.read_text()) if out.is_file() else None


# --- FLOPs -----------------------------------------------------------------------------------------

def test_encoder_flops_matches_a_hand_count(tiny_export):
    meta = json.loads((tiny_export / "ppliteformer_meta.json").read_text())
    assert meta["structure"]["heads"] == HEADS and meta["structure"]["ffn"] == FFN
    tokens, hidden, head_dim = BATCH * SEQ, 32, 16
    layer0 = 4 * tokens * hidden * 16 + 2 * BATCH * 1 * SEQ * SEQ * head_dim + 2 * tokens * hidden * 32
    layer1 = 4 * tokens * hidden * 32 + 2 * BATCH * 2 * SEQ * SEQ * head_dim + 2 * tokens * hidden * 64
    head = BATCH * hidden * hidden + BATCH * hidden * 3  # pooler on [CLS], 3-way classifier
    assert (layer0, layer1, head) == (147456, 294912, 2240)
    assert encoder_flops(meta, BATCH, SEQ) == 2 * (layer0 + layer1 + head) == 889216
    unpruned = dict(meta, structure=None)  # every layer at the config's 2 heads and FFN 64
    assert encoder_flops(unpruned, BATCH, SEQ) == 2 * (2 * layer1 + head)


@pytest.mark.parametrize("batch, seq", [(BATCH, SEQ), (1, 7)])
def test_encoder_flops_matches_the_programs_matmuls(tiny_export, batch, seq):
    meta = json.loads((tiny_export / "ppliteformer_meta.json").read_text())
    counted = program_matmul_flops(tiny_export, synthetic_inputs(batch, seq, 120))
    assert len(counted["ops"]) == 2 * 8 + 2  # per layer q, k, v, QK^T, AV, out, FFN x2; pooler, classifier
    assert counted["flops"] == encoder_flops(meta, batch, seq) > 0


def test_matmul_op_flops_reads_transposes_and_mul_dims():
    assert matmul_op_flops("matmul_v2", [2, 4, 8, 16], [2, 4, 8, 16], {"trans_y": True}) == 2 * 8 * 8 * 8 * 16
    assert matmul_op_flops("matmul", [16, 8], [16, 4], {"transpose_X": True}) == 2 * 8 * 16 * 4
    assert matmul_op_flops("mul", [2, 5, 32], [32, 10], {"x_num_col_dims": 2, "y_num_col_dims": 1}) == \
        2 * 10 * 32 * 10


# --- CPU peak --------------------------------------------------------------------------------------

def _info(vendor, family, model, name, flags):
    return {"vendor": vendor, "family": family, "model": model, "model_name": name, "flags": set(flags)}


def test_flops_per_cycle_rules():
    assert flops_per_cycle(_info("AuthenticAMD", 25, 0x11, "AMD EPYC", ["avx512f", "avx2", "fma"]))[0] == 32
    assert flops_per_cycle(_info("AuthenticAMD", 25, 0x01, "AMD EPYC 7763", ["avx2", "fma"]))[0] == 32
    assert flops_per_cycle(_info("GenuineIntel", 6, 85, "Intel Xeon Gold 6148", ["avx512f", "avx2", "fma"]))[0] == 64
    assert flops_per_cycle(_info("GenuineIntel", 6, 85, "Intel Xeon Silver 4114", ["avx512f", "avx2", "fma"]))[0] \
        == 32
    assert flops_per_cycle(_info("GenuineIntel", 6, 60, "Intel Core i7-4770", ["avx", "avx2", "fma"]))[0] == 32


@pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc"),
                    reason="no C compiler (cc/gcc): the FMA loop that measures the peak cannot be built here")
def test_cpu_peak_is_derived_and_measured_here():
    peak = cpu_peak()
    assert peak["gflops_sgemm_1thread_measured"] > 0 and peak["gflops_fma_1core_measured"] > 0  # gcc is set up here
    assert peak["gflops_peak_fp32_1core"] == max(peak["gflops_peak_fp32_1core_derived"],
                                                 peak["gflops_fma_1core_measured"])
    assert "FLOPs/cycle" in peak["peak_derivation"] and "AVX2 FMAs runs" in peak["peak_derivation"]


# --- three engines ---------------------------------------------------------------------------------

def test_three_engines_run_agree_and_report(cli_run, tiny_export):
    proc, _, result = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout[proc.stdout.index("\n{") + 1:]) == result  # table, then the same JSON
    assert "median ms" in proc.stdout
    assert set(result["engines"]) == set(ENGINES)
    for engine, r in result["engines"].items():
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"], engine
        assert r["peak_rss_mb"] > 0 and r["gflops_achieved"] > 0 and r["repeats"] == 3 and r["warmup"] == 1
        assert r["percent_of_peak"] == round(100 * r["gflops_achieved"] / result["gflops_peak_fp32_1core"], 1)
        assert r["threads"] == 1
    assert result["engines"]["paddle_inference"]["variant"] in ("native", "mkldnn")
    assert set(result["engines"]["paddle_inference"]["variants_median_ms"]) == {"native", "mkldnn"}
    diffs = result["logits_max_abs_diff"]
    assert set(diffs) == {"paddle_lite_vs_paddle_inference", "paddle_lite_vs_onnxruntime",
                          "paddle_inference_vs_onnxruntime"}
    assert max(diffs.values()) <= LOGITS_TOLERANCE and result["logits_agree"] is True
    lite = result["engines"]["paddle_lite"]
    assert lite["x86_rewrites"] == {"matmul_v2_as_mul": 14, "transpose2_as_reshape2": 4,
                                    "lookup_table_dequant_as_lookup_table": 0}
    amd = cpu_vendor() == "AuthenticAMD"
    assert set(lite["variants_median_ms"]) == ({"default", "mkl_auto"} if amd else {"default"})
    assert lite["variant_env"] == ({"MKL_DEBUG_CPU_TYPE": "5" if lite["variant"] == "default" else ""} if amd else {})


def test_the_peak_is_measured_only_with_peak(cli_run, tiny_export):
    result = cli_run[2]  # no --peak: nothing compiled, the peak derived from /proc/cpuinfo
    assert result["gflops_fma_1core_measured"] is None and result["gflops_sgemm_1thread_measured"] is None
    assert result["gflops_peak_fp32_1core"] == result["gflops_peak_fp32_1core_derived"]
    if not shutil.which("cc") and not shutil.which("gcc"):
        pytest.skip("no C compiler (cc/gcc): --peak's FMA loop cannot be built here")
    proc = ppliteformer("bench", "--model", tiny_export, "--seq-len", SEQ, "--warmup", 0, "--repeats", 1,
                        "--engines", "paddle_inference", "--peak")
    measured = json.loads(proc.stdout[proc.stdout.index("\n{") + 1:])
    assert measured["gflops_fma_1core_measured"] > 0 and measured["gflops_sgemm_1thread_measured"] > 0
    assert "measured FMA loop" in proc.stdout


def test_the_engine_registry_is_what_the_cli_and_the_child_accept():
    from ppliteformer.bench.engines import ENGINES as REGISTRY
    from ppliteformer.bench.child import main as child_main

    assert ENGINES == tuple(REGISTRY) == ("paddle_lite", "paddle_inference", "onnxruntime")
    assert [e for e in REGISTRY.values() if not e.needs_inference_model] == [REGISTRY["paddle_lite"]]
    assert all(engine.variants() for engine in REGISTRY.values())
    with pytest.raises(SystemExit):  # argparse: the child takes only registered engines
        child_main(["--engine", "tensorrt", "--model", "m", "--inputs", "i.npz"])


def test_one_helper_runs_a_child_and_reads_its_json():
    from ppliteformer.bench.child_process import run_json_child
    from ppliteformer.errors import StageError

    ok = [sys.executable, "-c", "print('noise'); print('{\"x\": 1}')"]
    assert run_json_child(ok, "child", 30) == {"x": 1}
    failing = [sys.executable, "-c", "import sys; print('first'); sys.exit('the reason it failed')"]
    with pytest.raises(StageError, match="child exited with 1: the reason it failed"):
        run_json_child(failing, "child", 30)
    with pytest.raises(StageError, match="printed no result"):
        run_json_child([sys.executable, "-c", "print('no json')"], "child", 30)
    with pytest.raises(StageError, match="did not finish within 1 s"):
        run_json_child([sys.executable, "-c", "import time; time.sleep(5)"], "child", 1)


def test_json_shape(cli_run, tiny_export):
    result = cli_run[2]
    for key, kind in (("model", str), ("batch_size", int), ("seq_len", int), ("threads", int), ("flops", int),
                      ("model_bytes", dict), ("engines", dict), ("gflops_achieved_lite", float),
                      ("gflops_peak_fp32_1core", float), ("peak_derivation", str), ("logits_max_abs_diff", dict)):
        assert isinstance(result[key], kind), key
    assert (result["batch_size"], result["seq_len"], result["model"]) == (BATCH, SEQ, str(tiny_export))
    meta = json.loads((tiny_export / "ppliteformer_meta.json").read_text())
    assert result["flops"] == encoder_flops(meta, BATCH, SEQ)
    assert result["model_bytes"]["inference_model"] > 0 and result["model_bytes"]["nb_x86"] > 0
    lite = result["engines"]["paddle_lite"]
    assert result["gflops_achieved_lite"] == lite["gflops_achieved"]
    assert lite["gflops_achieved"] == round(result["flops"] / (lite["median_ms"] * 1e-3) / 1e9, 3)
    for key in ("median_ms", "p90_ms", "min_ms", "peak_rss_mb", "gflops_achieved"):
        assert all(key in r for r in result["engines"].values()), key


def test_out_is_not_overwritten_without_force(cli_run, tiny_export):
    proc, out, _ = cli_run
    before = out.read_text()
    again = ppliteformer("bench", "--model", tiny_export, "--out", out)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert out.read_text() == before
    forced = ppliteformer("bench", "--model", tiny_export, "--seq-len", 8, "--repeats", 2, "--warmup", 0,
                          "--engines", "onnxruntime", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["seq_len"] == 8 and list(result["engines"]) == ["onnxruntime"]
    assert not list(out.parent.glob("*.partial"))


def test_a_nb_runs_on_lite_only(tiny_export, tmp_path):
    from ppliteformer.runtimes.lite_convert import convert_model

    nb = convert_model(tiny_export, tmp_path / "x86", "x86")
    proc = ppliteformer("bench", "--model", nb, "--seq-len", SEQ, "--warmup", 0, "--repeats", 2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("\n{") + 1:])
    assert list(result["engines"]) == ["paddle_lite"] and result["model_bytes"]["inference_model"] is None
    assert set(result["engines_skipped"]) == {"paddle_inference", "onnxruntime"}
    assert "inference model folder" in result["engines_skipped"]["onnxruntime"]
    assert result["flops"] > 0 and result["model_bytes"]["nb_x86"] == nb.stat().st_size


def _nb_op_types(nb) -> Counter:
    """Op types of a .nb, read from its kernel keys ("fc/def/2/1/1") in the topology."""
    data = nb.read_bytes()
    topology = data[26:26 + int.from_bytes(data[18:26], "little")]
    return Counter(m.group(1).decode() for m in re.finditer(rb"([A-Za-z0-9_]+)/[A-Za-z0-9_]+/\d{1,2}/\d{1,2}/\d{1,2}",
                                                            topology))


def test_x86_rewrites_keep_logits_fuse_linears_to_fc_and_turn_one_head_transposes_into_reshapes(tiny_export,
                                                                                                 tmp_path):
    from ppliteformer.runtimes.lite_convert import REWRITES_FILE, convert_model
    from ppliteformer.models.export_program import program_op_types
    from ppliteformer.runtimes.x86_rewrites import rewrite_for_x86

    copy = tmp_path / "rewritten"
    # 14 Linears: per layer q, k, v, out, FFN x2; pooler, classifier. Layer 0 has one head: its
    # q, k, v and context transposes only move a size-1 axis; layer 1's two heads keep theirs.
    assert rewrite_for_x86(tiny_export, copy) == {"matmul_v2_as_mul": 14, "transpose2_as_reshape2": 4,
                                                  "lookup_table_dequant_as_lookup_table": 0}
    before, after = Counter(program_op_types(tiny_export)), Counter(program_op_types(copy))
    assert (before["matmul_v2"], before["mul"], before["transpose2"]) == (18, 0, 8)
    assert (after["matmul_v2"], after["mul"], after["transpose2"]) == (4, 14, 4)  # QK^T and AV stay matmul_v2
    assert after - Counter(mul=14, reshape2=4) == before - Counter(matmul_v2=14, transpose2=4)
    assert (copy / "ppliteformer_meta.json").read_text() == (tiny_export / "ppliteformer_meta.json").read_text()

    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **synthetic_inputs(BATCH, SEQ, 120))
    for name, folder in (("original", tiny_export), ("rewritten", copy)):
        run_engine("paddle_inference", folder, inputs, 0, 1, 1, "native", logits_out=tmp_path / f"{name}.npy")
    np.testing.assert_allclose(np.load(tmp_path / "rewritten.npy"), np.load(tmp_path / "original.npy"), atol=1e-5)

    nb = convert_model(tiny_export, tmp_path / "x86", "x86")  # convert applies the rewrites for x86
    ops = _nb_op_types(nb)
    assert ops["fc"] == 14 and ops["matmul_v2"] == 4 and ops["mul"] == 0 and ops["transpose2"] == 4, ops
    assert json.loads((nb.parent / REWRITES_FILE).read_text())["transpose2_as_reshape2"] == 4
    arm_ops = _nb_op_types(convert_model(tiny_export, tmp_path / "arm", "arm"))
    assert arm_ops["transpose2"] == 8 and not (tmp_path / "arm" / REWRITES_FILE).exists()  # arm: unchanged


@pytest.mark.parametrize("in_shape, perm, shape", [
    ([-1, -1, 1, 32], [0, 2, 1, 3], [0, 1, -1, 32]),   # one head: [b, s, 1, d] -> [b, 1, s, d]
    ([-1, 1, -1, 32], [0, 2, 1, 3], [0, -1, 1, 32]),   # and back
    ([-1, -1, 2, 32], [0, 2, 1, 3], None),             # two heads: the data moves
    ([-1, -1, 1, -1], [0, 2, 1, 3], [0, 1, -1, 0]),    # unknown head_dim: it keeps its place
    ([1, -1, -1], [1, 2, 0], None),                    # two unknown sizes change place
    ([4, 1, 8], [2, 1, 0], None),                      # 4 and 8 swap
])
def test_which_transposes_are_reshapes(in_shape, perm, shape):
    from ppliteformer.runtimes.x86_rewrites import _reshape_shape

    assert _reshape_shape(in_shape, perm) == shape


def test_a_lite_failure_in_the_child_is_an_error_not_a_crash(tmp_path):
    garbage = tmp_path / "model.nb"
    garbage.write_bytes(b"\x00v" + b"\x00" * 200)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **synthetic_inputs(1, 4, 50))
    with pytest.raises(StageError, match="paddle_lite"):
        run_engine("paddle_lite", garbage, inputs, warmup=0, repeats=1, threads=1)


# --- bad input -------------------------------------------------------------------------------------

def _not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    return tmp_path


@pytest.mark.parametrize("case, args, fragment", [
    ("missing-path", lambda t, m, a: ["--model", t / "nothing"], "no such file or folder"),
    ("missing-nb", lambda t, m, a: ["--model", t / "none.nb"], "no such .nb file"),
    ("folder-not-a-model", lambda t, m, a: ["--model", _not_a_model(t)], "is not a model folder"),
    ("repeats-0", lambda t, m, a: ["--model", m, "--repeats", "0"], "--repeats 0"),
    ("arm-nb-on-x86", lambda t, m, a: ["--model", a], "converted for arm"),
    ("nb-with-other-engines", lambda t, m, a: ["--model", a, "--engines", "onnxruntime"],
     "need the inference model folder"),
    ("seq-too-long", lambda t, m, a: ["--model", m, "--seq-len", "65"], "position embeddings"),
    ("out-folder-missing", lambda t, m, a: ["--model", m, "--out", t / "no" / "r.json"], "does not exist"),
])
def test_bad_input_exits_2_without_traceback(case, args, fragment, tiny_export, arm_nb, tmp_path):
    proc = ppliteformer("bench", *args(tmp_path, tiny_export, arm_nb))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert fragment in proc.stderr and proc.stderr.startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_unknown_engine_is_an_argument_error(tiny_export):
    proc = ppliteformer("bench", "--model", tiny_export, "--engines", "tensorrt")
    assert proc.returncode == 2 and "unknown engine tensorrt" in proc.stderr and "Traceback" not in proc.stderr


def test_resolving_a_bad_model_raises_model_file_error(tmp_path):
    from ppliteformer.bench.side_by_side import bench_side_by_side

    with pytest.raises(ModelFileError, match="is not a model folder"):
        bench_side_by_side(_not_a_model(tmp_path))


def test_work_dir_keeps_the_onnx_and_reuses_it_for_the_same_model(tiny_export, tmp_path):
    from ppliteformer.bench.side_by_side import bench_side_by_side

    logs = []
    for _ in range(2):
        result = bench_side_by_side(tiny_export, seq_len=8, warmup=0, repeats=1, engines=["onnxruntime"],
                                    work_dir=tmp_path, measure_peak=False, log=logs.append)
        assert result["engines"]["onnxruntime"]["median_ms"] > 0
    assert sum("exporting ONNX" in line for line in logs) == 1
    assert (tmp_path / "onnx" / "model.onnx").is_file()
