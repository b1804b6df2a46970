"""Stage `evaluate`: the task's test metric of the inference model (Paddle Inference) and of the
x86 `.nb` (Paddle Lite), and the check that both runtimes agree (the task's parity rule)."""
from __future__ import annotations

import logging

from ...config.strategy import EvaluateConfig
from ...errors import StageError
from ...layout import DATA_STAGE, NB_FILE
from ...models.modeling import load_tokenizer
from ..runner import Stage
from ...runtimes.host import PaddleInferenceModel, open_lite, outputs_over
from ...tasks import DEFAULT_TASK, get_task, stage_config

log = logging.getLogger(__name__)


def evaluate_models(export_dir, x86_nb, splits, cfg: EvaluateConfig, max_seq_len: int,
                    label: str = "evaluate", int8: bool = False, task: str = DEFAULT_TASK) -> dict:
    """The task's metrics of each runtime on the test split; raises if Lite and Paddle Inference disagree.

    ``accuracy`` (and ``accuracy_x86_lite``, ``accuracy_x86_int8_onednn``) hold the task's headline
    metric (``task.metric``: accuracy, span F1), ``task_metrics`` all its metrics on Paddle Inference."""
    task = get_task(task)
    tokenizer = load_tokenizer(str(export_dir))
    ids, targets = task.encode(tokenizer, splits.test, max_seq_len, splits.labels)
    pad = tokenizer.pad_token_id

    def headline(outputs) -> float:
        return task.score(outputs, targets, splits.labels)[task.metric]

    reference = outputs_over(PaddleInferenceModel(export_dir), ids, pad, batch_size=32)
    scores = task.score(reference, targets, splits.labels)
    metrics = {"test_texts": len(ids), "accuracy": scores[task.metric], "task_metrics": scores}
    if x86_nb is not None:
        lite = outputs_over(open_lite(x86_nb), ids, pad, batch_size=1)
        metrics["accuracy_x86_lite"] = headline(lite)
        metrics.update(task.compare(reference, lite))
        if metrics["max_abs_logit_diff"] > cfg.logits_atol or metrics["label_agreement"] < cfg.min_label_agreement:
            raise StageError(
                f"Paddle Lite x86 and Paddle Inference disagree on the test split: largest logit difference "
                f"{metrics['max_abs_logit_diff']:.2e} (allowed {cfg.logits_atol:.0e}), labels agree on "
                f"{metrics['label_agreement']:.2%} (required {cfg.min_label_agreement:.2%}). The .nb does "
                "not compute what the model does; do not deploy it.")
    if int8:  # the int8 program on oneDNN's int8 kernels: real int8 arithmetic, not a simulation
        onednn = outputs_over(PaddleInferenceModel(export_dir, threads=1, onednn_int8=True), ids, pad, batch_size=1)
        metrics["accuracy_x86_int8_onednn"] = headline(onednn)
        metrics["label_agreement_onednn_int8_vs_simulated"] = task.compare(reference, onednn)["label_agreement"]
    line = f"{label}: test {task.metric} {metrics['accuracy']:.4f} (Paddle Inference, {len(ids)} texts)"
    if x86_nb is not None:
        line += (f", {metrics['accuracy_x86_lite']:.4f} (Lite x86 .nb); largest logit difference "
                 f"{metrics['max_abs_logit_diff']:.1e}, labels agree on {metrics['label_agreement']:.2%}")
    if int8:
        line += (f" with int8 simulated, {metrics['accuracy_x86_int8_onednn']:.4f} on oneDNN int8 kernels (labels "
                 f"agree on {metrics['label_agreement_onednn_int8_vs_simulated']:.2%})")
    log.info(line)
    return metrics


def stage(strategy, with_lite: bool, model: str = "export", converted: str = "convert",
          name: str = "evaluate", int8: bool = False) -> Stage:
    """Evaluate the inference model made by stage ``model`` (and its x86 `.nb` when ``with_lite``)."""
    def run(ctx):
        x86_nb = ctx.input(converted) / "x86" / NB_FILE if with_lite else None
        return evaluate_models(ctx.input(model), x86_nb, task.read_splits(ctx.input(DATA_STAGE)),
                               strategy.evaluate, strategy.data.max_seq_len, label=name, int8=int8, task=task.name)
    task = get_task(strategy.task)
    return Stage(name, run, stage_config(strategy, strategy.evaluate), inputs=(DATA_STAGE, model, converted))
