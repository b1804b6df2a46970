"""The compression steps of a chain: distill, prune, trim_vocab, embedding_int8, qat, ptq.

Each step reads the previous step's checkpoint (the teacher's for the first), and the
training steps learn from the teacher's logits. Float steps write a checkpoint that the
export stage turns into an inference model; qat and ptq write the int8 inference model
directly.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..distillation import DistillationLoss, build_student
from ..modeling import count_parameters, load_pretrained, load_tokenizer
from ..pipeline import Stage
from ..pruning import prune_widths, unit_importance
from ..quantization import calibration_sample, post_training_quantize, qat_wrapper, save_qat_model
from ..runtimes import MODEL_FILE, PARAMS_FILE, PaddleInferenceModel, inference_model_bytes, logits_over
from ..structure import describe, layer_widths, load_checkpoint, read_task, save_checkpoint, use_int8_embedding
from ..training import dev_accuracy, encode_texts, predict_labels, train_classifier
from ..vocab_trim import tokens_to_keep, trim_vocabulary
from .data import read_splits


class StepData:
    """The splits encoded with one tokenizer, and label ids."""

    def __init__(self, ctx, tokenizer, max_seq_len: int):
        self.splits = read_splits(ctx.input("data"))
        label_id = {label: i for i, label in enumerate(self.splits.labels)}
        self.train_ids = encode_texts(tokenizer, [e.text for e in self.splits.train], max_seq_len)
        self.dev_ids = encode_texts(tokenizer, [e.text for e in self.splits.dev], max_seq_len)
        self.train_labels = [label_id[e.label] for e in self.splits.train]
        self.dev_labels = [label_id[e.label] for e in self.splits.dev]
        self.pad_id = tokenizer.pad_token_id

    def dev_accuracy(self, model) -> float:
        return dev_accuracy(model, self.dev_ids, self.dev_labels, self.pad_id)


TEACHER_LOGITS_FILE = "train_logits.npy"


def compute_teacher_logits(ctx, max_seq_len: int) -> dict:
    """The teacher's logits on the train split, once for every step that distils from it.

    Computed by Paddle Inference on the exported teacher (no dropout, all cores): the same
    numbers as the dygraph teacher in eval mode, a few times faster.
    """
    export_dir = ctx.input("export")
    data = StepData(ctx, load_tokenizer(str(export_dir)), max_seq_len)
    logits = logits_over(PaddleInferenceModel(export_dir), data.train_ids, data.pad_id, batch_size=64)
    np.save(ctx.out_dir / TEACHER_LOGITS_FILE, logits)
    return {"train_texts": len(logits)}


def _cached_logits(ctx) -> np.ndarray:
    return np.load(ctx.input("teacher_logits") / TEACHER_LOGITS_FILE)


def _train_against_teacher(ctx, model, teacher, data: StepData, cfg, on_best, hidden_loss_weight: float = 0.0) -> dict:
    """Fine-tune ``model`` on alpha * labels + (1 - alpha) * teacher logits; returns the training metrics.

    ``teacher`` (the dygraph model) is only needed for hidden-state distillation.
    """
    import paddle

    paddle.seed(cfg.seed)
    loss = DistillationLoss(_cached_logits(ctx), cfg.alpha, cfg.temperature,
                            teacher=teacher, hidden_loss_weight=hidden_loss_weight, student=model)
    return train_classifier(model, data.train_ids, data.train_labels, data.dev_ids, data.dev_labels,
                            epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                            warmup_ratio=cfg.warmup_ratio, weight_decay=cfg.weight_decay, seed=cfg.seed,
                            evals_per_epoch=cfg.evals_per_epoch, pad_id=data.pad_id, on_best=on_best,
                            loss_fn=loss, extra_parameters=loss.parameters())


def _checkpoint_saver(tokenizer, task: dict, out_dir: Path):
    def save(model, dev_acc=None):
        save_checkpoint(model, tokenizer, task, out_dir)
    return save


def distill(ctx, cfg, previous: str, max_seq_len: int) -> dict:
    import paddle

    teacher = load_pretrained(str(ctx.input(previous)))
    tokenizer = load_tokenizer(str(ctx.input(previous)))
    data = StepData(ctx, tokenizer, max_seq_len)
    paddle.seed(cfg.seed)
    student = build_student(teacher, cfg)
    teacher_labels = predict_labels(teacher, data.dev_ids, data.pad_id)

    def agreement(model) -> float:  # share of dev texts on which model and teacher give the same label
        return float((predict_labels(model, data.dev_ids, data.pad_id) == teacher_labels).mean())

    before = agreement(student)
    result = _train_against_teacher(ctx, student, teacher, data, cfg,
                                    _checkpoint_saver(tokenizer, read_task(ctx.input(previous)), ctx.out_dir),
                                    cfg.hidden_loss_weight)
    best = load_checkpoint(ctx.out_dir)
    after = agreement(best)
    print(f"distill: student {count_parameters(best):,} parameters (teacher {count_parameters(teacher):,}); "
          f"dev agreement with the teacher {before:.4f} before, {after:.4f} after", flush=True)
    return {"parameters": count_parameters(best), "teacher_parameters": count_parameters(teacher),
            "dev_agreement_with_teacher_before": before, "dev_agreement_with_teacher_after": after, **result}


def prune(ctx, cfg, previous: str, max_seq_len: int) -> dict:
    tokenizer = load_tokenizer(str(ctx.input(previous)))
    data = StepData(ctx, tokenizer, max_seq_len)
    model = load_checkpoint(ctx.input(previous))
    before = {**layer_widths(model), "parameters": count_parameters(model), "dev_accuracy": data.dev_accuracy(model)}
    loss = DistillationLoss(_cached_logits(ctx), cfg.alpha, cfg.temperature)
    scores = unit_importance(model, loss, data.train_ids, data.train_labels, data.pad_id,
                             cfg.importance_batches, cfg.batch_size, cfg.seed)
    kept = prune_widths(model, scores, cfg.head_keep_ratio, cfg.ffn_keep_ratio)
    pruned_acc = data.dev_accuracy(model)
    result = _train_against_teacher(ctx, model, None, data, cfg,
                                    _checkpoint_saver(tokenizer, read_task(ctx.input(previous)), ctx.out_dir))
    print(f"prune: heads {before['heads']} -> {kept['heads']}, FFN {before['ffn']} -> {kept['ffn']}; dev "
          f"accuracy {before['dev_accuracy']:.4f} before, {pruned_acc:.4f} right after pruning, "
          f"{result['best_dev_accuracy']:.4f} after fine-tuning", flush=True)
    return {"before": before, "after": {**kept, "parameters": count_parameters(model)},
            "dev_accuracy_right_after_pruning": pruned_acc, **result}


def trim_vocab(ctx, cfg, previous: str, max_seq_len: int) -> dict:
    tokenizer = load_tokenizer(str(ctx.input(previous)))
    data = StepData(ctx, tokenizer, max_seq_len)
    model = load_checkpoint(ctx.input(previous))
    before_acc = data.dev_accuracy(model)
    keep = tokens_to_keep(tokenizer, data.train_ids, cfg.min_count)
    new_tokenizer = trim_vocabulary(model, tokenizer, keep, ctx.out_dir)
    save_checkpoint(model, new_tokenizer, read_task(ctx.input(previous)), ctx.out_dir)
    after_acc = StepData(ctx, new_tokenizer, max_seq_len).dev_accuracy(model)
    print(f"trim_vocab: {len(tokenizer.vocab)} -> {len(keep)} tokens; dev accuracy {before_acc:.4f} -> "
          f"{after_acc:.4f}", flush=True)
    return {"vocab_before": len(tokenizer.vocab), "vocab_after": len(keep), "parameters": count_parameters(model),
            "dev_accuracy_before": before_acc, "dev_accuracy_after": after_acc}


def embedding_int8(ctx, cfg, previous: str, max_seq_len: int) -> dict:
    tokenizer = load_tokenizer(str(ctx.input(previous)))
    data = StepData(ctx, tokenizer, max_seq_len)
    model = load_checkpoint(ctx.input(previous))
    before_acc = data.dev_accuracy(model)
    use_int8_embedding(model, cfg.per_row_scale)
    after_acc = data.dev_accuracy(model)
    save_checkpoint(model, tokenizer, read_task(ctx.input(previous)), ctx.out_dir)
    print(f"embedding_int8: word embeddings stored as int8; dev accuracy {before_acc:.4f} -> {after_acc:.4f}",
          flush=True)
    return {"dev_accuracy_before": before_acc, "dev_accuracy_after": after_acc}


def _copy_side_files(export_dir: Path, out_dir: Path) -> None:
    """Vocabulary, tokenizer config and meta travel with the int8 program."""
    for item in Path(export_dir).iterdir():
        if item.is_file() and item.name not in (MODEL_FILE, PARAMS_FILE) and not item.name.endswith(".info"):
            shutil.copy(item, out_dir / item.name)


def qat(ctx, cfg, previous: str, max_seq_len: int, previous_export: str) -> dict:
    tokenizer = load_tokenizer(str(ctx.input(previous)))
    data = StepData(ctx, tokenizer, max_seq_len)
    model = load_checkpoint(ctx.input(previous), dropout=False)
    float_acc = data.dev_accuracy(model)
    structure = describe(model)
    quanter = qat_wrapper(cfg)
    quanter.quantize(model)
    best = {}
    result = _train_against_teacher(ctx, model, None, data, cfg,
                                    lambda m, acc: best.update(state={k: v.clone() for k, v in m.state_dict().items()}))
    model.set_state_dict(best["state"])
    save_qat_model(quanter, model, ctx.out_dir)
    _copy_side_files(ctx.input(previous_export), ctx.out_dir)
    print(f"qat: dev accuracy {float_acc:.4f} in float, {result['best_dev_accuracy']:.4f} with int8 "
          "simulated in training", flush=True)
    return {"dev_accuracy_float": float_acc, "structure": structure,
            "model_bytes": inference_model_bytes(ctx.out_dir), **result}


def ptq(ctx, cfg, previous_export: str, max_seq_len: int) -> dict:
    export_dir = ctx.input(previous_export)
    tokenizer = load_tokenizer(str(export_dir))
    data = StepData(ctx, tokenizer, max_seq_len)
    sample = calibration_sample(data.train_ids, cfg.calibration_size, cfg.seed)
    batches = post_training_quantize(export_dir, ctx.out_dir, sample, data.pad_id, cfg)
    _copy_side_files(export_dir, ctx.out_dir)
    print(f"ptq: calibrated with {cfg.algo} on {len(sample)} train texts ({batches} batches)", flush=True)
    return {"algo": cfg.algo, "calibration_texts": len(sample), "calibration_batches": batches,
            "model_bytes": inference_model_bytes(ctx.out_dir)}


FLOAT_STEPS = {"distill": distill, "prune": prune, "trim_vocab": trim_vocab, "embedding_int8": embedding_int8}
TRAINING_STEPS = ("distill", "prune", "qat")  # the steps that learn from the teacher's logits


def teacher_logits_stage(max_seq_len: int) -> Stage:
    return Stage("teacher_logits", lambda ctx: compute_teacher_logits(ctx, max_seq_len), {"max_seq_len": max_seq_len},
                 inputs=("data", "export"))


def stage(step: str, cfg, previous: str, previous_export: str, max_seq_len: int) -> Stage:
    """The stage for one chain step; ``previous`` made the checkpoint it starts from."""
    if step == "ptq":
        return Stage(step, lambda ctx: ptq(ctx, cfg, previous_export, max_seq_len), cfg,
                     inputs=("data", previous_export))
    if step == "qat":
        return Stage(step, lambda ctx: qat(ctx, cfg, previous, max_seq_len, previous_export), cfg,
                     inputs=("data", "teacher_logits", previous, previous_export))
    teacher = ("teacher", "teacher_logits") if step in TRAINING_STEPS else ()
    config = cfg
    if step == "embedding_int8":
        from ..int8_embedding import LAYOUT

        config = {"config": cfg, "layout": LAYOUT}
    return Stage(step, lambda ctx: FLOAT_STEPS[step](ctx, cfg, previous, max_seq_len), config,
                 inputs=("data", *teacher, previous))
