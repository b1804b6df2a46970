"""What a search leaves in its work directory: search.json (every candidate's settings and figures, the
front, the choice), search.html (the front as a table and a plot, then every candidate) and the printed
table. The chosen candidate's own report, bundle and strategy are in chosen/ and chosen.yaml."""
from __future__ import annotations

import dataclasses
import html
import logging

from ..atomic import write_json_atomic, write_text_atomic
from ..report.plots import Point, scatter_svg

log = logging.getLogger("ppliteformer")

RESULT_FILE = "search.json"
HTML_FILE = "search.html"
COLUMNS = ("#", "candidate", "status", "chain", "arm .nb MB", "M insns (ARM, qemu)", "dev rung 1", "dev rung 2",
           "test (Paddle Inf.)")


def _row(number: int, name: str, status: str, settings: dict, figures: dict, metric_test) -> list:
    cost = figures.get("rung2") or figures.get("rung1") or figures.get("probe") or {}

    def dev(rung):
        return f"{figures[rung]['dev_metric']:.4f}" if rung in figures else "-"
    return [number, name, status, " > ".join(settings["chain"]) + (" (fp16)" if settings["fp16"] else ""),
            f"{cost['nb_bytes'] / 1e6:.3f}" if cost else "-", f"{cost['instructions'] / 1e6:.2f}" if cost else "-",
            dev("rung1"), dev("rung2"), f"{metric_test:.4f}" if metric_test is not None else "-"]


def rows(search, result: dict) -> list:
    """One row per candidate: chosen first, then the front, then by how far each got."""
    order = {"chosen": 0, "front": 1, "rung 2": 2}
    names = sorted(result["statuses"], key=lambda n: (order.get(result["statuses"][n], 3), result["statuses"][n], n))
    settings = {c.name: c.settings() for c in search.candidates}
    return [_row(i, n, result["statuses"][n], settings[n], result["figures"][n],
                 result["figures"][n].get("rung2", {}).get("test_metric")) for i, n in enumerate(names, 1)]


def text_table(table: list) -> str:
    widths = [max(len(str(r[i])) for r in [COLUMNS, *table]) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [COLUMNS, *table])


def _plot(search, result: dict, table: list) -> str:
    """Rung 2's candidates, each labelled with its row number in the table (names are too long to place)."""
    shown = []
    for number, name, *_ in table:
        full = result["figures"][name].get("rung2")
        if full:
            candidate = next(c for c in search.candidates if c.name == name)
            precision = "int8" if candidate.int8_program else "fp16" if candidate.fp16 else "fp32"
            shown.append((Point(f"{number}", precision, full["instructions"], full["nb_bytes"], full["dev_metric"]),
                          full["instructions"]))
    return scatter_svg("Rung 2 (# as in the table): dev metric vs ARM cost",
                       "aarch64 instructions / inference (ARM kernels, qemu; not a time)", shown,
                       search.task.metric, split="dev", chain=False)


def _html(search, result: dict, table: list) -> str:
    cfg = search.cfg
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in table)
    chosen = result.get("chosen_report") or {}
    verdict = (f"Chosen: <b>{e(result['chosen'])}</b>; its own run (<code>{e(chosen.get('workdir', ''))}</code>, strategy "
               f"<code>{e(chosen.get('strategy', ''))}</code>) measured test {e(search.task.metric)} "
               f"{chosen.get('test_metric_arm') or 0:.4f} on the ARM kernels under qemu." if result["chosen"]
               else f"No candidate chosen: {e(result['why_none'])}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>search {e(search.name)}</title>
<style>body{{font-family:sans-serif;max-width:1350px;margin:1em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}</style></head><body>
<h1>Search {e(search.name)}</h1>
<p>Budget: arm .nb &le; {f"{cfg.max_nb_bytes:,}" if cfg.max_nb_bytes else "any"} bytes, &le;
{f"{cfg.max_arm_instructions:,.0f}" if cfg.max_arm_instructions else "any"} aarch64 instructions
at the {e(cfg.instructions_at)} length, at most {cfg.max_drop:g} points below the teacher on dev
(teacher dev {e(search.task.metric)} {result['teacher_dev_metric'] or 0:.4f}); {cfg.max_minutes:g} minutes of this machine
(exploring took {result['minutes']['exploring']} min over every invocation, then
{result['minutes']['verifying_chosen']} min verifying the chosen candidate).</p>
<p>{verdict}</p>
<p>Dev figures choose; the test split was measured once, for the front (Paddle Inference) and for the chosen
candidate. Instructions and sizes are those of the arm .nb on Paddle Lite's ARM kernels under qemu-aarch64,
not a device's time.</p>
{_plot(search, result, table)}
<table><tr>{head}</tr>{body}</table></body></html>"""


def write_outputs(search, result: dict) -> None:
    table = rows(search, result)
    write_json_atomic(search.results / RESULT_FILE, {
        "search": dataclasses.asdict(search.cfg), "strategy_file": str(search.path), "task": search.task.name,
        "metric": search.task.metric, **{k: v for k, v in result.items() if k != "figures"},
        "candidates": {c.name: {"settings": c.settings(), "status": result["statuses"][c.name],
                                "figures": result["figures"][c.name]} for c in search.candidates}})
    write_text_atomic(search.results / HTML_FILE, _html(search, result, table))
    log.info("%s", text_table(table))
    log.info("search: %s; %s", f"chosen {result['chosen']}" if result["chosen"] else "nothing chosen",
             f"{search.results / RESULT_FILE}, {search.results / HTML_FILE}")
