"""`ppliteformer report WORKDIR`: a finished run's report.json as report.html and report.md.

The HTML page is one self-contained file: inline CSS and plots drawn here as inline SVG (no
matplotlib, no JavaScript, nothing fetched), so it opens offline wherever the work directory
is copied. The Markdown has the same tables and links the plots, written beside it as
report_size.svg and report_latency.svg.

Device results are the JSON files deploy/arm/run_on_board.py and run_on_android.py write
with --out. One may name the artifact whose .nb it measured in an "artifact" key; without
one it is taken to be of the report's final artifact.

Standard library only: the CLI command must not import paddle.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import ReportError
from ..layout import REPORT_FILE
from ..records import ArtifactRecord, Report

HTML_FILE, MD_FILE = "report.html", "report.md"
SIZE_SVG, LATENCY_SVG = "report_size.svg", "report_latency.svg"
LATENCY_KEYS = ("median_ms", "p90_ms", "min_ms", "avg_ms")
INT8_NOTE = "its arm .nb was verified through the Paddle Inference proxy, not on a device (int8; see the notes)"
ARM_NOTE = ("Paddle Inference; the Lite x86 .nb and the arm .nb on Paddle Lite's ARM kernels under qemu "
            "emulation agree (see the notes; not a device)")
ARM_INT8_NOTE = ("the arm .nb on Paddle Lite's ARM int8 kernels under qemu emulation (the ARM column; see the "
                 "notes; not a device); 'accuracy' is Paddle Inference's float simulation")
DEVICE_HINT = ("Give a file written by deploy/arm/run_on_board.py or run_on_android.py --out, shaped like "
               '{"device": {"kind": "arm_linux", "host": ...}, "selfcheck": {...} or null, "latency": '
               '{"median_ms": ..., "p90_ms": ..., "min_ms": ..., "avg_ms": ..., "threads": ...}} with an '
               'optional "artifact": "<artifact name>" (default: the final artifact).')
NUMERIC = re.compile(r"[-+]?\d[^ ]*( \S+)?( / [-\d.]+)*|-")  # "0.409 MB", "0.279 / 0.360 / 0.268", "-"
COLOURS = {False: "#1f77b4", True: "#d62728"}  # fp32, int8
W, H, LEFT, RIGHT, TOP, BOTTOM = 560, 360, 60, 20, 40, 48  # plot size and margins, px
CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#eef2f7;text-align:left}td{max-width:360px}td.num{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#f8f8f8}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:13px;color:#555;max-width:560px}"""


@dataclass
class _Section:
    """One part of the report, rendered alike to HTML and Markdown: table, then plots, then notes."""
    title: str
    lines: list = field(default_factory=list)
    table: tuple | None = None  # (headers, rows of cell strings)
    plots: list = field(default_factory=list)  # (svg file name, title, note, svg text)


def render_report(workdir, device_results=()) -> tuple:
    """Write WORKDIR/report.html and report.md (plus the plots' SVG files); return (html_path, md_path)."""
    workdir = Path(workdir)
    report = read_report(workdir)
    names = [a.name for a in report.artifacts]
    devices = [_load_device(Path(p), names, report.final) for p in device_results]
    plots = _plot_section(report.artifacts, report.metric)
    sections = [_run_section(report), _artifact_section(report, devices), plots]
    if devices:
        sections.append(_device_section(devices))
    for file_name, _, _, svg in plots.plots:
        _write_atomic(workdir / file_name, svg)
    title = f"ppliteformer report: {report.strategy}"
    html_path, md_path = workdir / HTML_FILE, workdir / MD_FILE
    _write_atomic(md_path, _markdown(title, sections))
    _write_atomic(html_path, _html(title, sections))
    return html_path, md_path


# ---------------------------------------------------------------- reading and checking the inputs

def _read_json(path: Path, hint: str) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ReportError(f"{path} not found. {hint}") from None
    except OSError as exc:
        raise ReportError(f"{path} could not be read ({exc.strerror}). {hint}") from None
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, nesting too deep
        raise ReportError(f"{path} is not valid JSON ({str(exc)[:100]}). {hint}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path} holds a JSON {type(data).__name__}, not an object. {hint}")
    return data


def read_report(workdir: Path) -> Report:
    path = workdir / REPORT_FILE
    hint = (f"Run `ppliteformer run STRATEGY.yaml --workdir {workdir}` to the end first; it writes "
            f"{REPORT_FILE} when the last stage finishes.")
    data = _read_json(path, hint)
    try:
        report = Report.from_json(data)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ReportError(f"{path} is not a complete ppliteformer report ({str(exc)[:100]}). {hint}") from None
    if not report.artifacts:
        raise ReportError(f"{path} is not a complete ppliteformer report (it lists no artifacts). {hint}")
    return report


def _load_device(path: Path, names: list, final: str) -> dict:
    data = _read_json(path, DEVICE_HINT)
    problem = _device_problem(data, names)
    if problem:
        raise ReportError(f"device results {path}: {problem}. {DEVICE_HINT}")
    return {**data, "artifact": data.get("artifact", final), "file": str(path)}


def _device_problem(data: dict, names: list):
    """What is wrong with a device results object, or None."""
    device, latency, check = data.get("device"), data.get("latency"), data.get("selfcheck")
    if not isinstance(device, dict) or not isinstance(device.get("kind"), str):
        return 'it has no "device" object with a "kind" string'
    if not isinstance(latency, dict):
        return 'it has no "latency" object'
    bad = [key for key in LATENCY_KEYS if not _is_number(latency.get(key)) and latency.get(key) is not None]
    if bad:
        return f'"latency" has non-numeric {", ".join(bad)}'
    if latency.get("median_ms") is None and latency.get("avg_ms") is None:
        return '"latency" has neither "median_ms" nor "avg_ms"'
    if check is not None and not isinstance(check, dict):
        return '"selfcheck" is neither an object nor null'
    if "artifact" in data and data["artifact"] not in names:
        return f'"artifact" is {data["artifact"]!r}, which this report does not have (it has {", ".join(names)})'
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------- the sections

def _num(value, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _scaled(value, factor):
    return None if value is None else value * factor


def _run_section(report: Report) -> _Section:
    data = report.data or {}
    final = report.artifact(report.final)
    per_label = "; ".join(f"{split} " + ", ".join(f"{label} {n}" for label, n in counts.items())
                          for split, counts in (data.get("per_label") or {}).items())
    return _Section("Run", lines=[
        f"Strategy: {report.strategy}",
        f"Chain: {' → '.join([report.teacher, *report.chain])}",
        f"Final artifact: {report.final}{' (int8)' if final.int8 else ''}; "
        f"final fp32 artifact: {report.final_fp32}"
        + (f" (why this final: {report.final_reason})" if report.final_reason else ""),
        f"Data: {_num(data.get('rows'), 'd')} rows, {_num(data.get('kept'), 'd')} kept "
        f"({_num(data.get('contradictory_dropped'), 'd')} contradictory dropped); train "
        f"{_num(data.get('train'), 'd')}, dev {_num(data.get('dev'), 'd')}, test {_num(data.get('test'), 'd')}"
        + (f" ({per_label})" if per_label else ""),
        f"Total stage time: {_num(report.total_seconds, '.1f', ' s')}",
    ])


def _lite_latency(artifact: ArtifactRecord) -> str:
    latency = artifact.latency_x86_lite or {}
    return " / ".join(_num(latency.get(key), ".3f") for key in LATENCY_KEYS[:3]) if latency else "-"


def _device_label(device: dict) -> str:
    where = ", ".join(str(device[key]) for key in ("model", "host", "serial") if device.get(key))
    return f"{device['kind']} ({where})" if where else device["kind"]


def _device_latency(latency: dict) -> str:
    """Median when the tool measured one; benchmark_bin (Android) gives only avg/min/max."""
    key = "median_ms" if latency.get("median_ms") is not None else "avg_ms"
    return f"{latency[key]:.3f} ms {key[:-3]}"


def _artifact_section(report: Report, devices: list) -> _Section:
    metric = report.metric  # the task's: accuracy, span_f1, ...
    columns = [
        ("artifact", lambda a: a.name + (" (int8)" if a.int8 else "")),
        (metric, lambda a: _num(a.accuracy, ".4f")),
        ("vs teacher", lambda a: _num(_scaled(a.accuracy_change_vs_teacher, 100), "+.2f", " pts")),
        ("arm .nb", lambda a: _num(_scaled(a.nb_bytes_arm, 1e-6), ".3f", " MB")),
        ("smaller than teacher", lambda a: _num(a.times_smaller_arm_vs_teacher, ".2f", "x")),
        ("Lite x86 ms median / p90 / min", _lite_latency),
        ("faster than teacher", lambda a: _num(a.speedup_x86_lite_vs_teacher, ".2f", "x")),
        ("ms at the median test length", lambda a: "-" if a.latency_ms_at_median_length is None else
         f"{_num(a.latency_ms_at_median_length, '.3f')} ({a.median_length_tokens} tokens"
         + (", oneDNN int8)" if a.int8 else ", Lite x86)")),
        (f"int8 on x86: {metric} / ms (oneDNN)", lambda a: "-" if not a.int8 else
         f"{_num(a.accuracy_x86_int8_onednn, '.4f')} / {_num(a.latency_ms_x86_int8, '.3f')}"),
        (f"ARM kernels (emulated): {metric} / texts", lambda a: "-" if a.accuracy_arm is None else
         f"{_num(a.accuracy_arm, '.4f')} / {a.arm_texts}"),
        ("ARM instructions per inference / vs teacher", lambda a: "-" if not a.arm_instructions_per_inference
         else f"{_num(_scaled(a.arm_instructions_per_inference, 1e-6), '.2f', ' M')} / "
              f"{_num(a.arm_instructions_over_teacher, '.3f')}"),
        ("ARM instructions at the median test length", lambda a: "-" if not a.arm_instructions_at_median_length
         else _num(_scaled(a.arm_instructions_at_median_length, 1e-6), ".2f", " M")),
        ("gain over its control", lambda a: "-" if a.gain_over_control is None else
         f"{_num(_scaled(a.gain_over_control, 100), '+.2f', ' pts')} vs {_num(a.control_accuracy, '.4f')}"),
        ("parameters", lambda a: _num(a.parameters, ",.0f")),
        ("peak memory", lambda a: _num(a.peak_memory_mb, ".1f", " MB")),
    ]
    if any(a.accuracy_arm_fp16 is not None for a in report.artifacts):
        columns.insert(columns.index(next(c for c in columns if c[0] == "gain over its control")), (
            f"fp16 .nb on ARMv8.2 FP16 kernels (emulated): {metric} / texts / instructions / vs fp32 .nb",
            lambda a: "-" if a.accuracy_arm_fp16 is None else
            f"{_num(a.accuracy_arm_fp16, '.4f')} / {a.arm_fp16_texts} / "
            f"{_num(_scaled(a.arm_fp16_instructions_per_inference, 1e-6), '.2f', ' M')} / "
            f"{_num(a.arm_fp16_instructions_over_fp32, '.3f')}x"))
    if devices:
        columns.append(("ARM device latency", lambda a: "; ".join(
            f"{_device_latency(d['latency'])} on {_device_label(d['device'])}"
            for d in devices if d["artifact"] == a.name) or "-"))
    columns.append((f"{metric} verified by",
                    lambda a: (ARM_INT8_NOTE if a.int8 else ARM_NOTE) if a.accuracy_arm is not None
                    else INT8_NOTE if a.int8 else a.accuracy_verified_by or "-"))
    artifacts = report.artifacts
    lines = [f"{metric}: test split, run by Paddle Inference (0..1); 'vs teacher' in percentage points. "
             "'smaller' and 'faster' are the teacher's .nb size or latency divided by the artifact's."]
    bench = next((a.latency_x86_lite for a in artifacts if a.latency_x86_lite), None)
    if bench:
        lines.append(f"Lite x86 latency: {bench.get('repeats')} timed runs after {bench.get('warmup')} warm-up, "
                     f"batch {bench.get('batch_size')}, {bench.get('seq_len')} tokens, "
                     f"{bench.get('threads')} thread(s).")
    arm = next((a for a in artifacts if a.arm_instructions), None)
    if arm:
        lines.append(f"ARM kernels: each arm .nb run by Paddle Lite's aarch64 kernels under qemu user-mode emulation "
                     f"({arm.arm_cpu_identity} CPU identity) on the test texts counted in the table, checked "
                     "against Paddle Inference (the simulated int8 program for int8 artifacts). Instructions per "
                     f"inference: batch 1, {arm.arm_instructions.get('seq_len')} tokens, 1 thread, counted by a "
                     "qemu plugin; a deterministic cost, not a time on a device.")
    lines += [f"{a.name} (int8): {a.accuracy_verified_by}" for a in artifacts if a.int8]
    lines += [f"{a.name}'s control: {a.control}." for a in artifacts if a.control]
    rows = [[cell(a) for _, cell in columns] for a in artifacts]
    teacher_accuracy = artifacts[0].accuracy
    for baseline in report.baselines.values():  # a reference row: the same test split, no model file
        change = None if teacher_accuracy is None else (baseline["accuracy"] - teacher_accuracy) * 100
        rows.append([f"reference: {baseline['description']}", _num(baseline["accuracy"], ".4f"),
                     _num(change, "+.2f", " pts")] + ["-"] * (len(columns) - 4) + ["same test split; not deployed"])
        lines.append(f"Reference row: {baseline['description']}, trained on this run's train split in "
                     f"{baseline['seconds']} s (regularisation {baseline['c']} chosen on the dev split, "
                     f"{baseline['features']:,} features). A compressed Transformer is worth shipping where it "
                     "beats this.")
    return _Section("Artifacts", lines=lines, table=([title for title, _ in columns], rows))


def _left_off(points: list, int8_reason: str) -> str:
    gone = [name + (f" ({int8_reason})" if int8 and int8_reason else "")
            for name, x, y, int8 in points if x is None or y is None]
    return f"Left off, having no value here: {', '.join(gone)}." if gone else ""


def _plot_section(artifacts: list, metric: str) -> _Section:
    size = [(a.name, _scaled(a.nb_bytes_arm, 1e-6), a.accuracy, bool(a.int8))
            for a in artifacts]
    latency = [(a.name, a.latency_ms_x86_lite, a.accuracy, bool(a.int8))
               for a in artifacts]
    plots = []
    for file_name, title, x_title, points, reason in (
            (SIZE_SVG, f"{metric} vs arm .nb size", "arm .nb size (MB)", size, ""),
            (LATENCY_SVG, f"{metric} vs Lite x86 latency", "Lite x86 median latency (ms)", latency,
             "int8: Paddle Lite x86 cannot run int8 matmuls, so it has no Lite x86 latency")):
        plots.append((file_name, title, _left_off(points, reason), _scatter(title, x_title, points, metric)))
    return _Section("Plots", plots=plots)


def _selfcheck(check) -> str:
    if check is None:
        return "not run (benchmark_bin cannot check accuracy)"
    verdict = "passed" if check.get("passed") else "FAILED"
    return (f"{verdict} {check.get('n_passed', '-')}/{check.get('n', '-')}, max |logit diff| "
            f"{_num(check.get('max_abs_logit_diff'), '.2g')}")


def _device_section(devices: list) -> _Section:
    headers = ["file", "device", "artifact", "engine", "threads", *LATENCY_KEYS, "self-check"]
    rows = [[d["file"], _device_label(d["device"]), str(d["artifact"]), str(d["latency"].get("engine", "-")),
             str(d["latency"].get("threads", "-")), *(_num(d["latency"].get(key), ".3f") for key in LATENCY_KEYS),
             _selfcheck(d.get("selfcheck"))] for d in devices]
    return _Section("Device results", table=(headers, rows), lines=[
        "Measured on the device by deploy/arm/run_on_board.py (median/p90/min, plus the accuracy self-check) or "
        "run_on_android.py (Paddle Lite's benchmark_bin: avg/min only). A file without an \"artifact\" key is "
        "taken to be of the final artifact."])


# ---------------------------------------------------------------- SVG plots

def _ticks(lo: float, hi: float, count: int = 5) -> list:
    """About ``count`` round tick values (steps of 1, 2 or 5 x 10^k) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _place_labels(anchors: list) -> list:
    """(name, x, y) of each label: right of its point (left near the edge), moved up or down past
    labels already placed, so that the names of close points stay readable."""
    placed, labels = [], []
    for name, x, y in anchors:
        width = 7 * len(name)
        left = x + 7 if x + 7 + width < W else x - 7 - width
        for dy in (-6, 14, -20, 28, -34, 42, -48, 56):
            box = (left, y + dy - 11, left + width, y + dy + 2)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        labels.append((name, left, y + dy))
    return labels


def _scatter(title: str, x_title: str, points: list, metric: str) -> str:
    """SVG scatter of the task's metric (%) against x, one labelled point per artifact, joined in chain order.

    ``points``: (name, x, accuracy 0..1, int8); those without x or accuracy are left off.
    """
    shown = [(name, x, acc * 100, int8) for name, x, acc, int8 in points if x is not None and acc is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">', f'<rect width="{W}" height="{H}" fill="#fff"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           f'{html.escape(title)}</text>']
    if not shown:
        return "\n".join(out + [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no artifact to plot</text>',
                                "</svg>\n"])
    xs, ys = [p[1] for p in shown], [p[2] for p in shown]
    xt, yt = _ticks(0, max(xs)), _ticks(max(min(ys) - 1, 0), min(max(ys) + 1, 100))

    def px(x):
        return LEFT + (x - xt[0]) / (xt[-1] - xt[0]) * (W - LEFT - RIGHT)

    def py(y):
        return H - BOTTOM - (y - yt[0]) / (yt[-1] - yt[0]) * (H - TOP - BOTTOM)

    for t in xt:
        out.append(f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{H - BOTTOM}" stroke="#e3e3e3"/>'
                   f'<text x="{px(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" fill="#444">{t:g}</text>')
    for t in yt:
        out.append(f'<line x1="{LEFT}" y1="{py(t):.1f}" x2="{W - RIGHT}" y2="{py(t):.1f}" stroke="#e3e3e3"/>'
                   f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end" fill="#444">{t:g}</text>')
    out += [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" '
            f'stroke="#888"/>',
            f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 10}" text-anchor="middle">{html.escape(x_title)}</text>',
            f'<text transform="translate(16 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
            f'test {html.escape(metric)} (%)</text>',
            '<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="'
            + " ".join(f"{px(x):.1f},{py(y):.1f}" for _, x, y, _ in shown) + '"/>']
    for (name, x, y, int8), (_, lx, ly) in zip(shown, _place_labels([(n, px(x), py(y)) for n, x, y, _ in shown])):
        if abs(ly - py(y)) > 10:
            out.append(f'<line x1="{px(x):.1f}" y1="{py(y):.1f}" x2="{lx:.1f}" y2="{ly - 4:.1f}" stroke="#bbb"/>')
        out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{COLOURS[int8]}"/>'
                   f'<text x="{lx:.1f}" y="{ly:.1f}">{html.escape(name)}</text>')
    for i, (int8, kind) in enumerate(((False, "fp32"), (True, "int8"))):
        out.append(f'<circle cx="{W - RIGHT - 90 + 50 * i}" cy="{TOP - 12}" r="5" fill="{COLOURS[int8]}"/>'
                   f'<text x="{W - RIGHT - 82 + 50 * i}" y="{TOP - 8}">{kind}</text>')
    return "\n".join(out + ["</svg>\n"])


# ---------------------------------------------------------------- HTML and Markdown

def _html(title: str, sections: list) -> str:
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{e(section.title)}</h2>")
        if section.table:
            headers, rows = section.table
            body.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>" + "".join(
                "<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in rows) + "</table>")
        if section.plots:
            body.append('<div class="plots">' + "".join(
                f"<figure>{svg}<figcaption>{e(' '.join(filter(None, (plot_title + '.', note))))}</figcaption>"
                "</figure>" for _, plot_title, note, svg in section.plots) + "</div>")
        if section.lines:
            body.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + "</ul>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _html_cell(cell: str) -> str:
    """Numbers right-aligned and kept on one line; text left-aligned and wrapped."""
    return f'<td class="num">{html.escape(cell)}</td>' if NUMERIC.fullmatch(cell) else f"<td>{html.escape(cell)}</td>"


def _md(text) -> str:
    """Text safe in a Markdown table cell: no HTML, links, emphasis or column breaks from user names."""
    text = html.escape(" ".join(str(text).split()), quote=False)  # entities: read as text by any renderer
    return re.sub(r"([\\`*\[\]|])", r"\\\1", text)


def _markdown(title: str, sections: list) -> str:
    out = [f"# {_md(title)}", ""]
    for section in sections:
        out += [f"## {_md(section.title)}", ""]
        if section.table:
            headers, rows = section.table
            out += ["| " + " | ".join(map(_md, headers)) + " |", "|" + " --- |" * len(headers)]
            out += ["| " + " | ".join(map(_md, row)) + " |" for row in rows] + [""]
        for file_name, plot_title, note, _ in section.plots:
            out += [f"![{plot_title}]({file_name})", ""] + ([_md(note), ""] if note else [])
        out += [f"- {_md(line)}" for line in section.lines] + ([""] if section.lines else [])
    return "\n".join(out)


def _write_atomic(path: Path, text: str) -> None:
    """A reader (or a browser reloading) never sees half a file; a failure is a ReportError."""
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise ReportError(f"could not write {path} ({exc.strerror}). Check that the work directory is "
                          "writable and has free space.") from None
