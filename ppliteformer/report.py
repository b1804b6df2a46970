"""report.json and the table printed at the end of a run."""
from __future__ import annotations

from pathlib import Path

from .pipeline import write_json_atomic

REPORT_FILE = "report.json"


def build_report(strategy, records: dict) -> dict:
    """One entry per artifact, built from the finished stages' metrics."""
    def metrics(stage):
        return records.get(stage, {}).get("metrics", {})

    evaluation, sizes, latency = metrics("evaluate"), metrics("convert"), metrics("bench")
    teacher = {
        "name": "teacher",
        "stage": "export",
        "accuracy": evaluation.get("accuracy"),
        "accuracy_x86_lite": evaluation.get("accuracy_x86_lite"),
        "max_abs_logit_diff_lite_vs_inference": evaluation.get("max_abs_logit_diff"),
        "label_agreement_lite_vs_inference": evaluation.get("label_agreement"),
        "inference_model_bytes": metrics("export").get("model_bytes"),
        "nb_bytes_arm": sizes.get("nb_bytes_arm"),
        "nb_bytes_x86": sizes.get("nb_bytes_x86"),
        "latency_ms_x86_lite": latency.get("median_ms"),
        "latency_x86_lite": latency or None,
        "parameters": metrics("teacher").get("parameters"),
    }
    return {
        "strategy": strategy.name,
        "teacher": "teacher",
        "final": "teacher",
        "final_fp32": "teacher",
        "data": metrics("data"),
        "training": metrics("teacher").get("history"),
        "stage_seconds": {name: r.get("seconds") for name, r in records.items()},
        "artifacts": [teacher],
    }


def write_report(workdir, report: dict) -> Path:
    path = Path(workdir) / REPORT_FILE
    write_json_atomic(path, report)
    return path


def _fmt(value, kind):
    if value is None:
        return "-"
    return {"acc": f"{value:.4f}", "mb": f"{value / 1e6:.2f} MB", "ms": f"{value:.2f} ms"}[kind]


def print_table(report: dict) -> None:
    columns = [("artifact", "name", None), ("acc (Paddle Inf.)", "accuracy", "acc"),
               ("acc (Lite x86)", "accuracy_x86_lite", "acc"), (".nb arm", "nb_bytes_arm", "mb"),
               (".nb x86", "nb_bytes_x86", "mb"), ("Lite x86 latency", "latency_ms_x86_lite", "ms")]
    rows = [[a[key] if kind is None else _fmt(a.get(key), kind) for _, key, kind in columns]
            for a in report["artifacts"]]
    widths = [max(len(title), *(len(r[i]) for r in rows)) for i, (title, _, _) in enumerate(columns)]
    print("  ".join(title.ljust(w) for (title, _, _), w in zip(columns, widths)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    latency = report["artifacts"][0].get("latency_x86_lite")
    if latency:
        print(f"Lite x86 latency: median of {latency['repeats']} runs after {latency['warmup']} warm-up, "
              f"batch {latency['batch_size']}, seq {latency['seq_len']}, {latency['threads']} thread")
