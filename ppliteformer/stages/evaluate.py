"""Stage `evaluate`: test accuracy of the inference model (Paddle Inference) and of the x86
`.nb` (Paddle Lite), and the check that both runtimes agree."""
from __future__ import annotations

import logging

import numpy as np

from ..config import EvaluateConfig
from ..data import DatasetSplits, read_splits
from ..errors import StageError
from ..layout import DATA_STAGE, NB_FILE
from ..modeling import load_tokenizer
from ..pipeline import Stage
from ..runtimes import PaddleInferenceModel, logits_over, open_lite
from ..training import encode_examples

log = logging.getLogger(__name__)


def compare_logits(reference: np.ndarray, other: np.ndarray) -> dict:
    return {"max_abs_logit_diff": float(np.abs(reference - other).max()),
            "label_agreement": float((reference.argmax(-1) == other.argmax(-1)).mean())}


def evaluate_models(export_dir, x86_nb, splits: DatasetSplits, cfg: EvaluateConfig, max_seq_len: int,
                    label: str = "evaluate", int8: bool = False) -> dict:
    """Accuracy of each runtime on the test split; raises if Lite and Paddle Inference disagree."""
    tokenizer = load_tokenizer(str(export_dir))
    ids = encode_examples(tokenizer, splits.test, max_seq_len)
    labels = np.asarray([splits.labels.index(e.label) for e in splits.test])
    reference = logits_over(PaddleInferenceModel(export_dir), ids, tokenizer.pad_token_id, batch_size=32)
    metrics = {"test_texts": len(ids), "accuracy": float((reference.argmax(-1) == labels).mean())}
    if x86_nb is not None:
        lite = logits_over(open_lite(x86_nb), ids, tokenizer.pad_token_id, batch_size=1)
        metrics["accuracy_x86_lite"] = float((lite.argmax(-1) == labels).mean())
        metrics.update(compare_logits(reference, lite))
        if metrics["max_abs_logit_diff"] > cfg.logits_atol or metrics["label_agreement"] < cfg.min_label_agreement:
            raise StageError(
                f"Paddle Lite x86 and Paddle Inference disagree on the test split: largest logit difference "
                f"{metrics['max_abs_logit_diff']:.2e} (allowed {cfg.logits_atol:.0e}), labels agree on "
                f"{metrics['label_agreement']:.2%} (required {cfg.min_label_agreement:.2%}). The .nb does "
                "not compute what the model does; do not deploy it.")
    if int8:  # the int8 program on oneDNN's int8 kernels: real int8 arithmetic, not a simulation
        onednn = logits_over(PaddleInferenceModel(export_dir, threads=1, onednn_int8=True), ids,
                             tokenizer.pad_token_id, batch_size=1)
        metrics["accuracy_x86_int8_onednn"] = float((onednn.argmax(-1) == labels).mean())
        metrics["label_agreement_onednn_int8_vs_simulated"] = float((onednn.argmax(-1) == reference.argmax(-1)).mean())
    line = f"{label}: test accuracy {metrics['accuracy']:.4f} (Paddle Inference, {len(ids)} texts)"
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
        return evaluate_models(ctx.input(model), x86_nb, read_splits(ctx.input(DATA_STAGE)),
                               strategy.evaluate, strategy.data.max_seq_len, label=name, int8=int8)
    return Stage(name, run, strategy.evaluate, inputs=(DATA_STAGE, model, converted))
