"""`ppliteformer report`: report.json -> self-contained report.html + report.md, with device results.

Fast: no training. The report is a literal cut from a real tiny run's report.json (a full
chain's teacher, two fp32 steps and the int8 QAT step), with accuracies spread out so the
plots have some shape.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ppliteformer.errors import ReportError
from ppliteformer.records import ArtifactRecord, Report, StepResult
from ppliteformer.report.plots import COLOURS
from ppliteformer.report.render import render_report

from .test_arm import needs_arm

FP32_CHECK = "paddle_inference and paddle_lite_x86 (same logits within evaluate.logits_atol)"
INT8_CHECK = ("paddle_inference: the int8 program (quantize/dequantize around every matmul) run by Paddle Inference; "
              "Lite x86 2.13 cannot run int8 matmuls, so the arm .nb made from this program is verified through "
              "this proxy, not on an ARM device")
PROXY_NOTE = "verified through the Paddle Inference proxy, not on a device"
BENCH = {"repeats": 5, "warmup": 1, "engine": "paddle_lite_x86", "threads": 1, "batch_size": 1, "seq_len": 48}


def _fp32(name, accuracy, nb_bytes_arm, median_ms, parameters, size_ratio, speedup, change, instructions):
    return ArtifactRecord(
        arm_instructions_per_inference=instructions, arm_instructions={"seq_len": 48}, accuracy_arm=accuracy,
        arm_texts=40, arm_whole_test_split=True, arm_cpu_identity="a55",
        name=name, int8=False, accuracy=accuracy, accuracy_x86_lite=accuracy,
        max_abs_logit_diff_lite_vs_inference=2.2e-08, label_agreement_lite_vs_inference=1.0,
        inference_model_bytes=nb_bytes_arm - 4000, nb_bytes_arm=nb_bytes_arm, nb_bytes_x86=nb_bytes_arm + 10000,
        latency_ms_x86_lite=median_ms,
        latency_x86_lite={"median_ms": median_ms, "p90_ms": round(median_ms * 1.2, 3),
                          "min_ms": round(median_ms * 0.95, 3), **BENCH},
        parameters=parameters, accuracy_verified_by=FP32_CHECK, times_smaller_arm_vs_teacher=size_ratio,
        speedup_x86_lite_vs_teacher=speedup, accuracy_change_vs_teacher=change)


# Built from the records report/build.py writes, so a field renamed there fails here instead of drifting.
REPORT = Report(
    strategy="tinychain", chain=["distill", "trim_vocab", "qat"], teacher="teacher", final="qat",
    final_reason="the last step of the chain", final_fp32="trim_vocab",
    data={"rows": 400, "distinct_texts": 398, "contradictory_dropped": 0, "kept": 398, "train": 318, "dev": 40,
          "test": 40, "per_label": {"train": {"positive": 160, "negative": 158},
                                    "dev": {"negative": 20, "positive": 20},
                                    "test": {"negative": 20, "positive": 20}}},
    steps={"teacher": StepResult(dev_accuracy_after=0.9, parameters=87778,
                                 training={"history": [], "best_dev_accuracy": 0.9}, details={"trained": True})},
    stage_seconds={"data": 0.0, "teacher": 3.9, "qat": 1.9}, total_seconds=14.8,
    baselines={"tfidf_char_1_2gram_logreg": {
        "name": "tfidf_char_1_2gram_logreg", "description": "char 1-2-gram TF-IDF + logistic regression (scikit-learn)",
        "accuracy": 0.8625, "dev_accuracy": 0.85, "c": 4.0, "c_grid": [0.25, 1.0, 4.0, 16.0], "features": 9123,
        "train_texts": 318, "test_texts": 40, "seconds": 0.4}},
    artifacts=[
        _fp32("teacher", 0.9, 408782, 0.279, 87778, 1.0, 1.0, 0.0, 2.1e6),
        _fp32("distill", 0.885, 353726, 0.143, 79234, 1.16, 1.95, -0.015, 1.4e6),
        _fp32("trim_vocab", 0.88, 238318, 0.096, 50386, 1.72, 2.91, -0.02, 1.3e6),
        ArtifactRecord(name="qat", int8=True, accuracy=0.875, inference_model_bytes=129107, nb_bytes_arm=112782,
                       accuracy_verified_by=INT8_CHECK, times_smaller_arm_vs_teacher=3.62,
                       accuracy_change_vs_teacher=-0.025),
    ],
)
BOARD = {"device": {"kind": "arm_linux", "host": "pi@board", "uname": "Linux board 5.15 aarch64 GNU/Linux"},
         "selfcheck": {"passed": True, "n": 20, "n_passed": 20, "max_abs_logit_diff": 0.0004, "atol": 0.25},
         "latency": {"median_ms": 21.5, "p90_ms": 23.0, "min_ms": 20.9, "threads": 4, "warmup": 10, "repeats": 30,
                     "engine": "paddle_lite_arm"},
         "source": "run_on_board"}
PHONE = {"device": {"kind": "android", "serial": "R58M123", "model": "Pixel 7"}, "selfcheck": None,
         "latency": {"median_ms": None, "p90_ms": None, "min_ms": 17.2, "avg_ms": 18.4, "max_ms": 20.1,
                     "threads": 4, "engine": "paddle_lite_arm_benchmark_bin"},
         "source": "run_on_android", "artifact": "distill"}
REPORT.artifacts[2].accuracy_arm_fp16, REPORT.artifacts[2].accuracy_arm_fp16_reference = 0.875, 0.88
REPORT.artifacts[2].arm_fp16_texts, REPORT.artifacts[2].nb_bytes_arm_fp16 = 40, 241000
REPORT.artifacts[2].arm_fp16_instructions_per_inference = 1.1e6


def _split(fc, gelu, rest):
    return {"fc": fc, "matmul": 0.1 * fc, "softmax": 0.05 * fc, "layer_norm": 0.01 * fc, "gelu": gelu,
            "lookup": 1000, "casts/calib": 0, "the rest": rest, "feed/fetch": 5000}


for artifact, scale in zip(REPORT.artifacts[:3], (1.0, 0.7, 0.6)):  # the op-type split at seq 48 and at 20
    artifact.arm_split = {"bench": _split(1.4e6 * scale, 3e5 * scale, 2e5), "median": _split(6e5 * scale, 1e5, 8e4)}
    artifact.arm_generic_instructions_per_inference = artifact.arm_instructions_per_inference
    artifact.arm_instructions_at_median_length = sum(artifact.arm_split["median"].values())
REPORT.artifacts[2].arm_fp16_split = {"bench": _split(5e5, 3e5, 2e5), "median": _split(2e5, 1e5, 8e4)}
REPORT.artifacts[0].median_length_tokens = 20
OUTPUTS = ["report.html", "report.json", "report.md", "report_arm_instructions.svg", "report_arm_split.svg",
           "report_size.svg"]
SVGS = ("report_arm_instructions.svg", "report_size.svg", "report_arm_split.svg")


def write_workdir(folder: Path, report: Report = REPORT) -> Path:
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report.to_json()), encoding="utf-8")
    return folder


def write_json(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def ppliteformer(*args):
    return subprocess.run([sys.executable, "-m", "ppliteformer.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.unit
def test_html_md_and_plots_are_written(tmp_path):
    report = copy.deepcopy(REPORT)
    report.artifacts[1].peak_memory_mb = 123.4
    workdir = write_workdir(tmp_path / "w", report)
    html_path, md_path = render_report(workdir)
    assert (html_path, md_path) == (workdir / "report.html", workdir / "report.md")
    assert sorted(p.name for p in workdir.iterdir()) == OUTPUTS  # no temp files left behind
    page, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    for text in (page, md):
        assert all(a.name in text for a in REPORT.artifacts)
        assert PROXY_NOTE in text and "123.4 MB" in text and "-1.50 pts" in text and "0.279 / 0.335 / 0.265" in text
    qat_row = next(line for line in md.splitlines() if line.startswith("| qat"))
    assert "| qat (int8) \\[3\\] |" in qat_row and f"- \\[3\\] int8: the arm .nb was {PROXY_NOTE}" in md  # [2]: fp16
    fp16_row = next(line for line in md.splitlines() if line.startswith("| trim_vocab (fp16)"))
    assert "| 0.8750 / 40 | 1.10 M / 0.524x |" in fp16_row and "0.241 MB / 1.7x" in fp16_row
    reference = next(line for line in md.splitlines() if line.startswith("| reference: char 1-2-gram TF-IDF"))
    assert "| 0.8625 | -3.75 pts |" in reference and "not deployed" in reference
    # self-contained: two inline SVGs, nothing fetched (only references inside the page), no script
    assert page.count("<svg") == 3
    assert not any(bad in page for bad in ("<script", "src=", "@import"))
    assert set(re.findall(r'href="(.)', page)) == {"#"} and set(re.findall(r"url\((.)", page)) == {"#"}
    assert all(f"]({name})" in md for name in SVGS)
    instructions_svg, size_svg, split_svg = (ET.fromstring((workdir / name).read_text()) for name in SVGS)
    labels = lambda svg: {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}  # noqa: E731
    assert {"teacher", "distill", "trim_vocab", "qat", "fp32", "fp16", "int8"} <= labels(size_svg)
    assert "qat" not in labels(instructions_svg) and "Left off, having no value here: qat (int8)." in page
    # where the instructions go: a bar per arm .nb that has a split, at both lengths, every group in the legend
    assert {"teacher (fp32)", "trim_vocab (fp16)", "fc", "gelu", "feed/fetch", "2.13 M", "0.88 M"} <= labels(split_svg)
    assert "qat (int8)" not in labels(split_svg)
    split_row = next(line for line in md.splitlines() if line.startswith("| teacher (fp32) | 2.10 / 2.10 |"))
    assert "| fc 66%, gelu 14%, the rest 9% |" in split_row, split_row


@pytest.mark.unit
def test_malicious_artifact_name_is_escaped(tmp_path):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>|&amp;'
    report = copy.deepcopy(REPORT)
    report.artifacts[1].name = evil
    report.chain[0] = evil
    workdir = write_workdir(tmp_path / "w", report)
    html_path, md_path = render_report(workdir)
    page, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page and "&amp;amp;" in page
    assert "<script" not in md and "<img" not in md
    for name in SVGS:  # still well-formed XML, the name as a text node
        assert any(evil in (t.text or "") for t in ET.fromstring((workdir / name).read_text()).iter()), name


@pytest.mark.unit
def test_device_results_merge_in_through_the_cli_without_paddle(tmp_path):
    workdir = write_workdir(tmp_path / "w")
    board, phone = write_json(tmp_path / "board.json", BOARD), write_json(tmp_path / "phone.json", PHONE)
    code = ("import sys; from ppliteformer.cli import main; rc = main(sys.argv[1:]); "
            "assert 'paddle' not in sys.modules, 'report imported paddle'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "report", workdir, "--device-results", board, phone],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(workdir / "report.html"), str(workdir / "report.md")]
    page, md = ((workdir / name).read_text(encoding="utf-8") for name in ("report.html", "report.md"))
    for text in (page, md):
        assert "Device results" in text and "ARM device latency" in text
        assert "21.500 ms median on arm_linux (pi@board)" in text  # no "artifact" key: the final one
        assert "18.400 ms avg on android (Pixel 7, R58M123)" in text and "passed 20/20" in text
    qat_row = next(line for line in md.splitlines() if line.startswith("| qat"))
    distill_row = next(line for line in md.splitlines() if line.startswith("| distill"))
    assert "pi@board" in qat_row and "Pixel 7" in distill_row and "Pixel 7" not in qat_row


@pytest.mark.unit
@pytest.mark.parametrize("content, fragment", [
    (None, "not found"),
    ("{not json", "is not valid JSON"),
    ([BOARD], "not an object"),
    ({"device": {"kind": "android"}}, 'no "latency" object'),
    ({**BOARD, "latency": {"median_ms": "fast"}}, "non-numeric median_ms"),
    ({**BOARD, "artifact": "nope"}, "which this report does not have"),
])
def test_bad_device_results_exit_2_without_traceback(tmp_path, content, fragment):
    workdir = write_workdir(tmp_path / "w")
    device = tmp_path / "device.json"
    if content is not None:
        write_json(device, content)
    proc = ppliteformer("report", workdir, "--device-results", device)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and str(device) in proc.stderr and fragment in proc.stderr
    assert "run_on_board.py" in proc.stderr  # says what a good file is
    assert not (workdir / "report.html").exists()
    with pytest.raises(ReportError, match=fragment):
        render_report(workdir, [device])


@pytest.mark.unit
def test_workdir_without_report_json(tmp_path):
    proc = ppliteformer("report", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"Run `ppliteformer run STRATEGY.yaml --workdir {tmp_path}` to the end first" in proc.stderr


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1600"]


def _chromium(tmp_path, *args):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.skip("chromium not found (expected /usr/bin/chromium): this test renders report.html in headless "
                    "Chromium. Install it as CI does (.ci/run): apt-get update && apt-get install -y chromium")
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.unit
def test_html_renders_in_headless_chromium(tmp_path):
    html_path, _ = render_report(write_workdir(tmp_path / "w"))
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", html_path.as_uri())
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32).reshape(-1, 3)
    packed = pixels @ np.array([1 << 16, 1 << 8, 1])
    values, counts = np.unique(packed, return_counts=True)
    background = values[counts.argmax()]
    assert (packed != background).mean() > 0.03, "the page is (almost) blank"
    assert len(values) > 20, "the page has too few colours to hold text, tables and plots"
    for colour in COLOURS.values():  # the plots' points (fp32, fp16 and int8) were drawn
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) <= 8).sum() > 50, f"no plot points of colour {colour}"


@pytest.mark.unit
def test_the_page_fits_a_1400_px_window_with_every_plot(tmp_path):
    """The page's own layout in Chromium: a copy with one script that writes what it measured into the DOM."""
    html_path, _ = render_report(write_workdir(tmp_path / "w"))
    probe = tmp_path / "probe.html"
    probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", (
        "<script>document.body.setAttribute('data-measured', JSON.stringify({width: "
        "document.documentElement.scrollWidth, plots: [...document.querySelectorAll('figure svg')].map("
        "s => s.getBoundingClientRect().width)}))</script></body>")), encoding="utf-8")
    proc = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    found = re.search(r'data-measured="([^"]*)"', proc.stdout)
    assert found, f"Chromium printed no measured DOM (exit {proc.returncode}): {proc.stderr[-2000:]}"
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["width"] <= 1400, f"the page is {measured['width']} px wide: it overflows a 1400 px window"
    assert len(measured["plots"]) == 3 and all(width > 300 for width in measured["plots"]), measured


@pytest.mark.tiny
@needs_arm
def test_a_real_report_shows_the_arm_kernel_results_with_their_label(tiny_run):
    workdir, report = tiny_run
    _, md_path = render_report(workdir)
    md = md_path.read_text(encoding="utf-8")
    teacher = report.artifacts[0]
    cell = f"{teacher.accuracy_arm:.4f} / {teacher.arm_texts}"
    assert cell in md and f"{teacher.arm_instructions_per_inference / 1e6:.2f} M / 1.000" in md
    assert "under qemu user-mode emulation" in md and "not a time on a device" in md


@pytest.mark.unit
def test_a_report_with_the_old_ratio_names_still_reads():
    from ppliteformer.records import ArtifactRecord

    old = ArtifactRecord.from_json({"name": "qat", "int8": True, "size_ratio_arm_vs_teacher": 27.1,
                                    "arm_instruction_ratio_vs_teacher": 0.04, "arm_instruction_ratio_vs_source": 0.6})
    assert (old.times_smaller_arm_vs_teacher, old.arm_instructions_over_teacher, old.arm_instructions_over_source) \
        == (27.1, 0.04, 0.6)


@pytest.mark.unit
def test_an_int8_nb_is_plotted_at_both_kernels_counts(tmp_path):
    report = copy.deepcopy(REPORT)
    qat = report.artifacts[3]
    qat.arm_instructions_per_inference, qat.arm_generic_instructions_per_inference = 0.8e6, 1.2e6
    qat.accuracy_arm, qat.arm_whole_test_split = 0.87, True
    workdir = write_workdir(tmp_path / "w", report)
    html_path, _ = render_report(workdir)
    texts = [t.text for t in ET.fromstring((workdir / SVGS[0]).read_text()).iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("qat") == 2 and "int8, generic kernels" in texts and "int8" in texts
    assert "A hollow diamond is an int8 .nb on Lite&#x27;s generic kernels" in html_path.read_text(encoding="utf-8")
