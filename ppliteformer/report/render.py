"""`ppliteformer report WORKDIR`: a finished run's report.json as report.html and report.md.

The HTML page is one self-contained file: inline CSS and matplotlib's plots as inline SVG (no
JavaScript, nothing fetched), so it opens offline wherever the work directory is copied. It
leads with what a phone developer decides on: the metric against ARM instructions and against
`.nb` size, fp32 / fp16 / int8 side by side, in a table that fits a 1400 px window; where each
figure comes from is a footnote, and the secondary figures (x86 latency, memory) a second table.
The Markdown has the same tables and links the plots, written beside it as
report_arm_instructions.svg and report_size.svg.

Device results are the JSON files deploy/arm/run_on_board.py and run_on_android.py write
with --out. One may name the artifact whose .nb it measured in an "artifact" key; without
one it is taken to be of the report's final artifact.

Standard library and matplotlib only: the CLI command must not import paddle.
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
from ..arm.op_split import GROUP_NAMES
from .plots import left_off, points, scatter_svg, split_bars_svg

HTML_FILE, MD_FILE = "report.html", "report.md"
INSTRUCTIONS_SVG, SIZE_SVG, SPLIT_SVG = "report_arm_instructions.svg", "report_size.svg", "report_arm_split.svg"
LATENCY_KEYS = ("median_ms", "p90_ms", "min_ms", "avg_ms")
# Where each row's metric comes from: a footnote per kind, marked in the artifact cell
FOOTNOTES = {
    "fp32": "fp32: the metric is Paddle Inference's on the test split; the Lite x86 .nb and the arm .nb on Paddle "
            "Lite's ARM kernels under qemu emulation agree with it (not a device).",
    "fp32_no_arm": "fp32: the metric is Paddle Inference's on the test split; the Lite x86 .nb agrees with it.",
    "int8": "int8: the metric is the int8 program's in Paddle Inference's float simulation; the ARM column is the arm "
            ".nb on Paddle Lite's ARM int8 kernels under qemu emulation (not a device).",
    "int8_no_arm": "int8: the arm .nb was verified through the Paddle Inference proxy, not on a device (Lite x86 "
                   "2.13 cannot run int8 matmuls).",
    "fp16": "fp16: the arm_fp16 .nb on the Paddle Lite build with ARMv8.2 FP16 kernels under qemu -cpu max (a core "
            "with FP16 arithmetic; not a device); it runs only on ARMv8.2-A cores with FP16.",
}
DEVICE_HINT = ("Give a file written by deploy/arm/run_on_board.py or run_on_android.py --out, shaped like "
               '{"device": {"kind": "arm_linux", "host": ...}, "selfcheck": {...} or null, "latency": '
               '{"median_ms": ..., "p90_ms": ..., "min_ms": ..., "avg_ms": ..., "threads": ...}} with an '
               'optional "artifact": "<artifact name>" (default: the final artifact).')
NUMERIC = re.compile(r"[-+]?\d[^ ]*( \S+)?( / [-\d.]+)*|-")  # "0.409 MB", "0.279 / 0.360 / 0.268", "-"
CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
th{background:#eef2f7;text-align:left;max-width:150px}td{max-width:320px}td.num{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#f8f8f8}svg{max-width:100%;height:auto}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;max-width:640px}figcaption{font-size:13px;color:#555}"""


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
    plots, split = _plot_section(report), _split_section(report)
    sections = [_run_section(report), _artifact_section(report, devices), plots, split, _details_section(report)]
    if devices:
        sections.append(_device_section(devices))
    for file_name, _, _, svg in plots.plots + split.plots:
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
        f"Final artifact: {report.final} ({report.final_precision or ('int8' if final.int8 else 'fp32')}); "
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


def _rows(report: Report) -> list:
    """(row label, footnote kind, artifact, precision) per table row: each artifact, then its fp16 .nb."""
    rows = []
    for a in report.artifacts:
        arm = a.accuracy_arm is not None
        kind = ("int8" if arm else "int8_no_arm") if a.int8 else ("fp32" if arm else "fp32_no_arm")
        rows.append((f"{a.name} ({'int8' if a.int8 else 'fp32'})", kind, a, "int8" if a.int8 else "fp32"))
        if a.accuracy_arm_fp16 is not None:
            rows.append((f"{a.name} (fp16)", "fp16", a, "fp16"))
    return rows


def _arm_figures(a: ArtifactRecord, precision: str) -> dict:
    """The ARM kernels' figures of one row: its own .nb's (the fp16 one for an fp16 row)."""
    if precision == "fp16":
        return {"metric": a.accuracy_arm_fp16, "texts": a.arm_fp16_texts, "bytes": a.nb_bytes_arm_fp16,
                "insns": a.arm_fp16_instructions_per_inference, "median": a.arm_fp16_instructions_at_median_length}
    return {"metric": a.accuracy_arm, "texts": a.arm_texts, "bytes": a.nb_bytes_arm,
            "insns": a.arm_instructions_per_inference, "median": a.arm_instructions_at_median_length}


def _ratio(numerator, denominator, spec: str) -> str:
    return "-" if not numerator or not denominator else f"{numerator / denominator:{spec}}x"


def _artifact_section(report: Report, devices: list) -> _Section:
    metric = report.metric  # the task's: accuracy, span_f1, ...
    teacher = report.artifacts[0]
    rows = _rows(report)
    marks = {kind: f"[{i + 1}]" for i, kind in enumerate(dict.fromkeys(kind for _, kind, _, _ in rows))}
    seq = next((a.arm_instructions.get("seq_len") for a in report.artifacts if a.arm_instructions), None)
    median = next((a.median_length_tokens for a in report.artifacts if a.median_length_tokens), None)
    headers = ["artifact", f"{metric} (test)", "vs teacher", f"ARM kernels: {metric} / texts",
               f"ARM instructions per inference (seq {seq or '-'}) / vs teacher",
               f"ARM instructions at the median length ({median or '-'})", "arm .nb / smaller",
               "Lite x86 ms (median)", "gain over its control"]
    if devices:
        headers.append("ARM device latency")
    table = []
    for label, kind, a, precision in rows:
        arm = _arm_figures(a, precision)
        fp16 = precision == "fp16"
        row = [f"{label} {marks[kind]}",
               "-" if fp16 else _num(a.accuracy, ".4f"),
               "-" if fp16 else _num(_scaled(a.accuracy_change_vs_teacher, 100), "+.2f", " pts"),
               "-" if arm["metric"] is None else f"{arm['metric']:.4f} / {arm['texts']}",
               "-" if not arm["insns"] else
               f"{arm['insns'] / 1e6:.2f} M / {_ratio(arm['insns'], teacher.arm_instructions_per_inference, '.3f')}",
               _num(_scaled(arm["median"], 1e-6), ".2f", " M"),
               "-" if arm["bytes"] is None else
               f"{arm['bytes'] / 1e6:.3f} MB / {_ratio(teacher.nb_bytes_arm, arm['bytes'], '.1f')}",
               "-" if fp16 or a.int8 else _num(a.latency_ms_x86_lite, ".3f"),
               "-" if fp16 or a.gain_over_control is None else
               f"{_num(_scaled(a.gain_over_control, 100), '+.2f', ' pts')} vs {_num(a.control_accuracy, '.4f')}"]
        if devices:
            row.append("-" if fp16 else "; ".join(f"{_device_latency(d['latency'])} on {_device_label(d['device'])}"
                                                  for d in devices if d["artifact"] == a.name) or "-")
        table.append(row)
    teacher_accuracy = teacher.accuracy
    lines = [f"{marks[kind]} {FOOTNOTES[kind]}" for kind in marks]
    for baseline in report.baselines.values():  # a reference row: the same test split, no model file
        change = None if teacher_accuracy is None else (baseline["accuracy"] - teacher_accuracy) * 100
        table.append([f"reference: {baseline['description']}", _num(baseline["accuracy"], ".4f"),
                      _num(change, "+.2f", " pts")] + ["-"] * (len(headers) - 4) + ["same test split; not deployed"])
        lines.append(f"Reference row: {baseline['description']}, trained on this run's train split in "
                     f"{baseline['seconds']} s (regularisation {baseline['c']} chosen on the dev split, "
                     f"{baseline['features']:,} features). A compressed Transformer is worth shipping where it "
                     "beats this.")
    lines.append(f"{metric} (test): the test split (0..1); 'vs teacher' in percentage points; 'smaller': the teacher's "
                 "arm .nb size over the row's.")
    arm = next((a for a in report.artifacts if a.arm_instructions), None)
    if arm:
        lines.append(f"ARM kernels: each arm .nb run by Paddle Lite's aarch64 kernels under qemu user-mode emulation "
                     f"({arm.arm_cpu_identity} CPU identity) on the test texts counted in the table, checked against "
                     "Paddle Inference (the simulated int8 program for int8 artifacts). Instructions per inference: "
                     "batch 1, 1 thread, counted by a qemu plugin; a deterministic cost, not a time on a device.")
    lines += [f"{a.name}'s control: {a.control}." for a in report.artifacts if a.control]
    return _Section("Artifacts", lines=lines, table=(headers, table))


def _details_section(report: Report) -> _Section:
    """The figures measured on this x86 machine, beside the deliverable's: latency, int8 on oneDNN, memory."""
    metric = report.metric
    headers = ["artifact", "Lite x86 ms median / p90 / min", "faster than teacher (Lite x86)",
               "ms at the median test length", f"int8 on x86: {metric} / ms (oneDNN)", "parameters", "peak memory"]
    rows = [[a.name + (" (int8)" if a.int8 else ""), _lite_latency(a), _num(a.speedup_x86_lite_vs_teacher, ".2f", "x"),
             "-" if a.latency_ms_at_median_length is None else
             f"{_num(a.latency_ms_at_median_length, '.3f')} ({a.median_length_tokens} tokens"
             + (", oneDNN int8)" if a.int8 else ", Lite x86)"),
             "-" if not a.int8 else f"{_num(a.accuracy_x86_int8_onednn, '.4f')} / {_num(a.latency_ms_x86_int8, '.3f')}",
             _num(a.parameters, ",.0f"), _num(a.peak_memory_mb, ".1f", " MB")] for a in report.artifacts]
    lines = []
    bench = next((a.latency_x86_lite for a in report.artifacts if a.latency_x86_lite), None)
    if bench:
        lines.append(f"Lite x86 latency on this machine (not a phone): {bench.get('repeats')} timed runs after "
                     f"{bench.get('warmup')} warm-up, batch {bench.get('batch_size')}, {bench.get('seq_len')} tokens, "
                     f"{bench.get('threads')} thread(s); peak memory of the process timing the x86 .nb.")
    return _Section("On this x86 machine", lines=lines, table=(headers, rows))


def _plot_section(report: Report) -> _Section:
    every = points(report.artifacts)
    plots = []
    for file_name, title, x_title, x_of in (
            (INSTRUCTIONS_SVG, f"{report.metric} vs ARM instructions", "aarch64 instructions per inference "
             "(ARM kernels, emulated; log)", lambda p: p.instructions),
            (SIZE_SVG, f"{report.metric} vs arm .nb size", "arm .nb size in MB (log)",
             lambda p: None if p.nb_bytes is None else p.nb_bytes / 1e6)):
        shown = [(p, x_of(p)) for p in every if x_of(p) and p.metric is not None]
        generic = any(p.generic for p, _ in shown)
        note = " ".join(filter(None, (left_off(every, shown), "fp32 and int8 points are joined in chain order; "
                                      "each fp16 point to its fp32 twin.", generic and
                                      "A hollow diamond is an int8 .nb on Lite's generic kernels (no dotprod), the "
                                      "filled one the A55's.")))
        plots.append((file_name, title, note, scatter_svg(title, x_title, shown, report.metric)))
    return _Section("Plots", plots=plots)


def _split_section(report: Report) -> _Section:
    """Where each arm .nb's instructions go, by op type, at the bench and the median length: stacked bars,
    and the totals with the A55's kernels and Lite's generic ones."""
    rows = [(f"{a.name} ({precision})", a, precision, a.arm_fp16_split if precision == "fp16" else a.arm_split)
            for _, _, a, precision in _rows(report)]
    rows = [row for row in rows if row[3]]
    if not rows:
        return _Section("Where the ARM instructions go", lines=[
            "No split: the ARM kernels did not run, or the Paddle Lite build's run loop was not recognised "
            "(arm/op_split.py knows v2.13-rc's)."])
    seq = next(a.arm_instructions.get("seq_len") for a in report.artifacts if a.arm_instructions)
    median = next((a.median_length_tokens for a in report.artifacts if a.median_length_tokens), None)
    panels = [(f"seq {seq} (the bench length)", [(label, split["bench"]) for label, _, _, split in rows]),
              (f"the test split's median length ({median} tokens)", [(label, split["median"])
                                                                    for label, _, _, split in rows])]
    title = "Where the ARM instructions go, by op type"
    svg = split_bars_svg(title, panels, GROUP_NAMES)
    headers = ["arm .nb", f"seq {seq}: M instructions / generic kernels",
               f"median ({median}): M instructions / generic kernels", f"largest shares at seq {seq}"]
    table = []
    for label, a, precision, split in rows:
        generic = precision != "fp16"
        table.append([label,
                      _pair(_arm_figures(a, precision)["insns"], a.arm_generic_instructions_per_inference if generic
                            else None),
                      _pair(_arm_figures(a, precision)["median"], a.arm_generic_instructions_at_median_length
                            if generic else None),
                      _largest_shares(split["bench"])])
    identity = next((a.arm_cpu_identity for a in report.artifacts if a.arm_cpu_identity), "-")
    return _Section(title, table=(headers, table), plots=[(SPLIT_SVG, title, "", svg)], lines=[
        f"Counted on Paddle Lite's ARM kernels under qemu ({identity} CPU identity; 'generic kernels': the same .nb "
        "on the kernels Lite runs on a core it does not recognise, where int8 has no dotprod; fp16 .nb files run on "
        "ARMv8.2 cores only). A qemu plugin marks each turn of Lite's program loop, so each op's count is its "
        "kernel's; 'feed/fetch' is the rest of one inference. Instruction counts, not times on a device."])


def _pair(first, second) -> str:
    return " / ".join(_num(_scaled(value, 1e-6), ".2f") for value in (first, second))


def _largest_shares(split: dict, shown: int = 3) -> str:
    total = sum(split.values()) or 1
    largest = sorted(split.items(), key=lambda item: -item[1])[:shown]
    return ", ".join(f"{group} {count / total:.0%}" for group, count in largest)


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
