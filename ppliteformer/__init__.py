"""ppliteformer: PaddleNLP Transformers -> PaddleSlim compression -> Paddle Lite .nb.

The public API, imported lazily so that ``import ppliteformer`` stays light:

    run_strategy(strategy_or_yaml, workdir=None, until=None) -> report dict
    load_strategy(path, workdir=None) -> Strategy
    prepare_data(DataConfig, out_dir, task="seq_cls") -> the task's splits
    train_teacher(TeacherConfig, DataConfig, splits, out_dir, task="seq_cls") -> metrics
    export_model(teacher_dir, out_dir) -> metrics
    convert_model(export_dir, out_dir, target) -> Path of model.nb
    evaluate_models(export_dir, x86_nb, splits, EvaluateConfig, max_seq_len, task="seq_cls") -> metrics
    bench_lite(nb_path, BenchConfig) -> latency dict
    make_bundle(workdir, artifact=None, out_dir=None) -> [bundle folders]
    render_report(workdir, device_results=()) -> (report.html, report.md)
    bench_side_by_side(...) -> Lite / Paddle Inference / ONNX Runtime figures (see bench/side_by_side.py)
"""
import importlib

_API = {
    "run_strategy": "pipeline.workflow", "load_strategy": "config.strategy", "prepare_data": "pipeline.stages.data",
    "train_teacher": "pipeline.stages.teacher", "export_model": "models.export_program",
    "convert_model": "runtimes.lite_convert", "evaluate_models": "pipeline.stages.evaluate",
    "bench_lite": "pipeline.stages.bench", "make_bundle": "pipeline.bundle", "render_report": "report.render",
    "bench_side_by_side": "bench.side_by_side",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'ppliteformer' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
