"""The report's plots, drawn with matplotlib as SVG text: the task's metric against what a phone
developer decides on, ARM instructions per inference and arm `.nb` size, one point per artifact and
precision (fp32, fp16, int8), so the three are seen side by side.

No pyplot (no global figure state, no display backend): a ``Figure`` rendered straight to SVG, with
text kept as text and no date, so the same report gives the same file.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

COLOURS = {"fp32": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728"}
MARKERS = {"fp32": "o", "fp16": "s", "int8": "D"}


@dataclass(frozen=True)
class Point:
    name: str
    precision: str        # fp32, fp16 or int8
    instructions: float | None  # aarch64 instructions per inference on the ARM kernels (emulated)
    nb_bytes: int | None  # the arm .nb it is measured on
    metric: float | None  # 0..1, see ``points``
    generic: bool = False  # counted on Lite's generic kernels (an int8 .nb: no dotprod), not the A55's


def points(artifacts: list) -> list:
    """One point per artifact, and one more per fp16 .nb. The metric is each one's own: Paddle Inference's
    on the test split for fp32; the ARM int8 kernels' where they ran the whole test split, else the simulated
    int8 program's, for int8; the fp16 ARM kernels' on the texts they ran for fp16. An int8 artifact has one
    more, at its count on Lite's generic kernels (fp32 kernels are the same on both)."""
    out = []
    for a in artifacts:
        metric = a.accuracy_arm if a.int8 and a.arm_whole_test_split else a.accuracy
        out.append(Point(a.name, "int8" if a.int8 else "fp32", a.arm_instructions_per_inference, a.nb_bytes_arm,
                         metric))
        if a.int8 and a.arm_generic_instructions_per_inference:
            out.append(Point(a.name, "int8", a.arm_generic_instructions_per_inference, None, metric, generic=True))
        if a.accuracy_arm_fp16 is not None:
            out.append(Point(a.name, "fp16", a.arm_fp16_instructions_per_inference, a.nb_bytes_arm_fp16,
                             a.accuracy_arm_fp16))
    return out


def scatter_svg(title: str, x_title: str, shown: list, metric: str, split: str = "test", chain: bool = True) -> str:
    """SVG text of the metric (%) on ``split`` against x on a log axis: ``shown`` is (Point, x) pairs with both
    values; with ``chain`` fp32 and int8 points are joined in chain order and each fp16 point to its fp32 twin."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ppliteformer", "font.size": 9}):
        fig = Figure(figsize=(6.2, 4.0), dpi=100)
        ax = fig.subplots()
        if not shown:
            ax.text(0.5, 0.5, "no artifact to plot", ha="center", va="center", transform=ax.transAxes)
        in_order = [(x, p.metric * 100) for p, x in shown if p.precision != "fp16" and not p.generic] if chain else []
        if in_order:
            ax.plot(*zip(*in_order), color="#999999", linestyle="--", linewidth=1, zorder=1)
        twins = {p.name: (x, p.metric * 100) for p, x in shown if p.precision == "fp32"} if chain else {}
        for p, x in shown:
            if p.precision == "fp16" and p.name in twins:
                ax.plot(*zip(twins[p.name], (x, p.metric * 100)), color=COLOURS["fp16"], linewidth=1, zorder=1)
        for precision, colour in COLOURS.items():
            mine = [(x, p.metric * 100) for p, x in shown if p.precision == precision and not p.generic]
            if mine:
                ax.scatter(*zip(*mine), color=colour, marker=MARKERS[precision], label=precision, zorder=3)
        generic = [(x, p.metric * 100) for p, x in shown if p.generic]
        if generic:
            ax.scatter(*zip(*generic), facecolors="none", edgecolors=COLOURS["int8"], marker=MARKERS["int8"],
                       label="int8, generic kernels", zorder=3)
        for (p, x), (dx, dy) in zip(shown, _label_offsets(shown)):
            ax.annotate(p.name.replace("$", r"\$"), (x, p.metric * 100),  # a name as text, never mathtext
                        textcoords="offset points", xytext=(dx, dy), zorder=4,
                        ha="left" if dx > 0 else "right", color=COLOURS[p.precision])
        if shown:
            ax.set_xscale("log")
            ax.legend(loc="best")
            ax.margins(x=0.08, y=0.15)
        ax.set_title(title, fontsize=11, fontweight="bold")
        ax.set_xlabel(x_title)
        ax.set_ylabel(f"{split} {metric} (%)")
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _label_offsets(shown: list) -> list:
    """(dx, dy) in points for each label: right of its point (left of the rightmost ones, which would leave
    the plot), and stacked one line apart where points fall in the same spot (a step that changed little)."""
    if not shown:
        return []
    logs = [math.log10(x) for _, x in shown]
    metrics = [p.metric * 100 for p, _ in shown]
    x_span, y_span = (max(logs) - min(logs)) or 1, (max(metrics) - min(metrics)) or 1
    taken, offsets = {}, []
    for lx, y in zip(logs, metrics):
        spot = (round((lx - min(logs)) / x_span * 12), round((y - min(metrics)) / y_span * 12))
        below = taken.get(spot, 0)
        taken[spot] = below + 1
        offsets.append((-6 if (lx - min(logs)) / x_span > 0.8 else 6, 5 - 11 * below))
    return offsets


def left_off(all_points: list, shown: list) -> str:
    """Which artifacts a plot leaves out for want of a value."""
    kept = {(p.name, p.precision) for p, _ in shown}
    gone = [f"{p.name} ({p.precision})" for p in all_points if (p.name, p.precision) not in kept]
    return f"Left off, having no value here: {', '.join(gone)}." if gone else ""


GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def split_bars_svg(title: str, panels: list, groups: tuple) -> str:
    """SVG text of one 100%-stacked horizontal bar per row, one panel per length, one above the other: ``panels`` is
    (panel title, [(row label, {group: instructions})]); each bar is labelled with its total."""
    import matplotlib
    from matplotlib.figure import Figure

    rows = max((len(bars) for _, bars in panels), default=1)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ppliteformer", "font.size": 9}):
        fig = Figure(figsize=(6.2, 1.0 + (0.9 + 0.3 * rows) * max(1, len(panels))), dpi=100, layout="constrained")
        axes = fig.subplots(max(1, len(panels)), 1, squeeze=False)[:, 0]
        for ax, (panel_title, bars) in zip(axes, panels):
            labels = [label.replace("$", r"\$") for label, _ in bars][::-1]  # first row on top
            left = [0.0] * len(bars)
            for group, colour in zip(groups, GROUP_COLOURS):
                shares = [100 * max(split.get(group, 0), 0) / (sum(split.values()) or 1) for _, split in bars][::-1]
                ax.barh(labels, shares, left=left, color=colour, label=group, height=0.7)
                left = [a + b for a, b in zip(left, shares)]
            for y, (_, split) in enumerate(bars[::-1]):
                ax.text(101, y, f"{sum(split.values()) / 1e6:.2f} M", va="center", fontsize=8)
            ax.set_xlim(0, 116)
            ax.set_xticks(range(0, 101, 20))
            ax.set_xlabel("share of aarch64 instructions per inference (%)")
            ax.set_title(panel_title, fontsize=10)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=(len(groups) + 1) // 2,
                   fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=11, fontweight="bold")
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]
