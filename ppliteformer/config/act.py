"""A PaddleSlim ACT config (Global, Distillation, QuantAware, ...) translated into a strategy.

A Paddle user often arrives with a config from PaddleSlim's `example/auto_compression/nlp`.
`ppliteformer run act.yaml` accepts it unmodified: each ACT key is mapped onto the chain
(TransformerPrune -> prune, QuantAware -> qat, QuantPost -> ptq) and the mapping is printed.
Where ACT 2.6 would behave silently (drop a section it does not know, quantize nothing
because only conv ops are listed, start without the distillation its QAT needs, run an
automatic strategy when none is named), the translation says so, or refuses with the fix.
Standard library only: it runs before Paddle is imported.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..tasks.seq_data import BUILTIN, BUILTIN_PAIRS
from ..errors import ConfigError

ACT_SECTIONS = ("Global", "Distillation", "QuantAware", "Quantization", "QuantPost", "TransformerPrune",
                "HyperParameterOptimization", "TrainConfig")
# Sections ACT 2.6 knows that have no Transformer meaning here, with the reason.
_UNSUPPORTED = {
    "ChannelPrune": "it prunes conv channels; for a Transformer use TransformerPrune (heads and FFN)",
    "ASPPrune": "2:4 sparsity needs sparse GPU kernels; Paddle Lite's ARM kernels run dense",
    "UnstructurePrune": "unstructured sparsity does not make Paddle Lite's ARM kernels faster",
    "MultiTeacherDistillation": "ppliteformer distils from one teacher, the model in Global.model_dir",
}
_LINEAR_OPS = {"mul", "matmul", "matmul_v2"}
# ACT's NLP task names (PaddleSlim's example/auto_compression/nlp and its Hugging Face examples): those served
# (sentence classification, single texts or pairs), and those of tasks ppliteformer does not serve, with why.
_SERVED_TASKS = {"tnews", "iflytek", "afqmc", "ocnli", "cmnli", "csl", "cluewsc", "cluewsc2020", "cola", "sst-2",
                 "sst2", "qnli", "mnli", "qqp", "mrpc", "rte", "wnli"}
_NOT_SERVED = ("which ppliteformer does not compress: it serves classification of single texts and sentence pairs, "
               "and token classification (task: token_cls). Use ACT itself for this model.")
_NER_BY_STRATEGY = ("token classification (named entities), which ppliteformer serves as task token_cls but not from "
                    "an ACT config: the teacher an exported program is rebuilt into is a sequence classifier. Write "
                    "a strategy with task: token_cls, teacher.source: the model folder saved with save_pretrained "
                    "(and train: false to keep it as it is), data.source: a CoNLL or JSONL file of its data "
                    "(README, 'Tasks').")
_UNSERVED_TASKS = {"sts-b": f"a regression task (a similarity score, not a class), {_NOT_SERVED}",
                   "stsb": f"a regression task (a similarity score, not a class), {_NOT_SERVED}",
                   "uie": f"information extraction (UIE: start/end span probabilities), {_NOT_SERVED}",
                   "msra_ner": _NER_BY_STRATEGY,
                   "peoples_daily_ner": _NER_BY_STRATEGY}
# The metric a task's origin_metric is, where it is not accuracy (PaddleSlim's example/auto_compression/nlp).
_NOT_ACCURACY = {"cola": "a Matthews correlation", "sts-b": "a Pearson correlation", "stsb": "a Pearson correlation"}
_DATASET_FILES = (".tsv", ".jsonl")
# ACT's automatic strategy for a Transformer (auto_compression/auto_strategy.py: 'prune_0.25_int8').
_AUTO_PRUNED_RATIO = 0.25


class _Translation:
    """The strategy mapping being built, and the lines that explain it."""

    def __init__(self, path: Path):
        self.path = path
        self.sections = {"teacher": {"train": False}}
        self.lines = []

    def set(self, section: str, key: str, value, act_key: str, why: str = "") -> None:
        self.sections.setdefault(section, {})[key] = value
        self.lines.append(f"{act_key} -> {section}.{key}: {value!r}" + (f" ({why})" if why else ""))

    def note(self, act_key: str, text: str) -> None:
        self.lines.append(f"{act_key}: {text}")

    def warn(self, act_key: str, text: str) -> None:
        self.lines.append(f"warning: {act_key}: {text}")

    def fail(self, act_key: str, text: str):
        raise ConfigError(f"{self.path}: {act_key}: {text}")


def is_act_config(raw: dict) -> bool:
    """A config with one of ACT's (capitalised) sections; a strategy's sections are lower case, so a
    capitalised strategy key ('Chain:') is not taken for ACT and gets the strategy's own message."""
    return any(k in ACT_SECTIONS or k in _UNSUPPORTED for k in raw)


def _mapping(t: _Translation, raw: dict, name: str) -> dict:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        t.fail(name, f"expected a mapping of keys, got {type(value).__name__}.")
    return value


def _positive_int(t: _Translation, act_key: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        t.fail(act_key, f"expected a positive whole number, got {value!r}.")
    return value


def _check_keys(t: _Translation, section: str, values: dict, known: set) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        t.fail(f"{section}.{unknown[0]}", f"not a key of ACT's {section} (ACT 2.6 would stop with a TypeError). "
               f"Its keys: {', '.join(sorted(known))}.")


def _global(t: _Translation, g: dict):
    """Global -> teacher and data; returns Global.batch_size (None when absent) for the training steps."""
    _check_keys(t, "Global", g, {"model_dir", "model_filename", "params_filename", "task_name", "dataset",
                                 "batch_size", "max_seq_length", "model_type", "input_names", "padding",
                                 "return_attention_mask", "deploy_hardware"})
    if "model_dir" not in g:
        t.fail("Global.model_dir", "missing. Point it at the exported inference model to compress "
               "(.pdmodel, .pdiparams and vocab.txt), as ACT needs.")
    _served_task(t, g)
    written = str(g["model_dir"])
    model_dir = Path(written)
    for key, suffix in (("model_filename", ".pdmodel"), ("params_filename", ".pdiparams")):
        if key in g and (not str(g[key]).endswith(suffix) or model_dir.is_dir() and not (model_dir / str(g[key])).is_file()):
            t.fail(f"Global.{key}", f"'{g[key]}' is not a {suffix} file in {model_dir}. Name the exported "
                   f"program's {suffix} file there.")
        if key in g:
            t.set("teacher", key, str(g[key]), f"Global.{key}", "the program in the folder to rebuild the teacher from")
    # ACT reads model_dir as a local folder, never a hub name: keep it a path ('TNEWS' -> './TNEWS'), so that a
    # missing folder is reported before any stage runs.
    source = written if written.startswith((".", "/", "~")) or "/" in written else f"./{written}"
    t.set("teacher", "source", source, "Global.model_dir",
          "the fine-tuned model, used as it is, teacher.train: false; read, never written")
    if "dataset" not in g:
        t.fail("Global.dataset", "missing. ACT's scripts take the data from their own arguments; ppliteformer "
               "reads it from Global.dataset: a .tsv or .jsonl file of the task's own data ((text, label) rows, "
               "or (text_a, text_b, label) rows for a sentence-pair task), or 'builtin' for the built-in reviews.")
    dataset = str(g["dataset"])
    if dataset not in (BUILTIN, BUILTIN_PAIRS) and not dataset.endswith(_DATASET_FILES):
        t.fail("Global.dataset", f"'{dataset}' is a dataset name that PaddleNLP downloads; ppliteformer reads "
               "local files. Set Global.dataset to a .tsv or .jsonl file of the task's own data: (text, label) "
               "rows, or (text_a, text_b, label) rows for a sentence-pair task such as afqmc or ocnli ('builtin' "
               "and 'builtin_pairs' name the built-in review data).")
    t.set("data", "source", dataset, "Global.dataset")
    if "max_seq_length" in g:
        t.set("data", "max_seq_len", g["max_seq_length"], "Global.max_seq_length")
        t.set("bench", "seq_len", g["max_seq_length"], "Global.max_seq_length", "latency and ARM instructions "
              "at the length the model was exported for")
    for key, why in (("task_name", "the labels come from the data file"),
                     ("model_type", "the family is read from the program"),
                     ("input_names", "the inputs are read from the program"),
                     ("padding", "batches are padded to their longest text; with the attention mask the "
                                 "logits are those of max_length padding"),
                     ("return_attention_mask", "the attention mask is always passed"),
                     ("deploy_hardware", "Paddle Lite arm and x86 are the targets (convert.targets)")):
        if key in g:
            t.note(f"Global.{key}", f"{g[key]!r} not used ({why})")
    return None if "batch_size" not in g else _positive_int(t, "Global.batch_size", g["batch_size"])


def _served_task(t: _Translation, g: dict) -> None:
    """A config for a task ppliteformer does not serve is refused, naming the task (by Global.task_name, or
    a UIE model folder or program name)."""
    task = str(g.get("task_name", "")).lower()
    words = re.split(r"[^a-z0-9]+", " ".join(str(g.get(k, "")) for k in ("model_dir", "model_filename")).lower())
    if not task and "uie" in words:
        task = "uie"
    if task in _UNSERVED_TASKS:
        t.fail("Global.task_name" if "task_name" in g else "Global.model_dir",
               f"'{task}' is {_UNSERVED_TASKS[task]}")
    if task and task not in _SERVED_TASKS:
        t.warn("Global.task_name", f"'{task}' is not one of ACT's example tasks; it runs as sentence "
               "classification of the texts (or sentence pairs) in Global.dataset")


def _train_settings(t: _Translation, c: dict, task: str) -> dict:
    """TrainConfig -> the settings every training step takes (epochs, learning_rate, weight_decay)."""
    _check_keys(t, "TrainConfig", c, {"epochs", "train_iter", "learning_rate", "optimizer_builder", "eval_iter",
                                      "logging_iter", "origin_metric", "target_metric", "amp_config",
                                      "recompute_config", "sharding_config", "sparse_model"})
    out = {}
    if "train_iter" in c:
        t.fail("TrainConfig.train_iter", "not supported: ppliteformer's steps train for epochs. Give "
               "TrainConfig.epochs instead (train_iter x batch_size / train texts).")
    if "epochs" in c:
        out["epochs"] = c["epochs"]
    lr = c.get("learning_rate")
    if isinstance(lr, dict):
        if "learning_rate" not in lr:
            t.fail("TrainConfig.learning_rate", "a schedule without a learning_rate value. Add learning_rate.")
        t.note("TrainConfig.learning_rate", f"schedule {lr.get('type', '?')!r} replaced by linear warmup and decay")
        lr = lr["learning_rate"]
    if lr is not None:
        out["learning_rate"] = lr
    builder = c.get("optimizer_builder") or {}
    optimizer = builder.get("optimizer") if isinstance(builder, dict) else builder
    kind = optimizer.get("type", "AdamW") if isinstance(optimizer, dict) else optimizer or "AdamW"
    if kind != "AdamW":
        t.fail("TrainConfig.optimizer_builder", f"optimizer {kind!r}: ppliteformer trains with AdamW. Set "
               "optimizer: {type: AdamW} or remove optimizer_builder.")
    if isinstance(builder, dict) and "weight_decay" in builder:
        out["weight_decay"] = builder["weight_decay"]
    if c.get("origin_metric") is not None and task in _NOT_ACCURACY:
        t.warn("TrainConfig.origin_metric", f"{c['origin_metric']!r} is {_NOT_ACCURACY[task]} for {task}, not an "
               "accuracy, so it is not compared with the teacher's dev accuracy (ppliteformer measures accuracy)")
    elif c.get("origin_metric") is not None:
        t.set("teacher", "expected_dev_accuracy", float(c["origin_metric"]), "TrainConfig.origin_metric",
              "checked on the dev split before compressing, within 0.05 as ACT does; ACT checks it only "
              "when an eval function is passed")
    for key in ("eval_iter", "logging_iter", "target_metric", "amp_config", "recompute_config", "sharding_config"):
        if c.get(key) is not None:
            t.note(f"TrainConfig.{key}", f"{c[key]!r} not used (dev accuracy is checked evals_per_epoch times "
                   "per step; training is fp32 on the CPU)")
    if c.get("sparse_model"):
        t.fail("TrainConfig.sparse_model", "not supported (no sparse kernels in Paddle Lite ARM). Remove it.")
    return out


def _check_quantize_op_types(t: _Translation, name: str, q: dict) -> None:
    """ACT quantizes only the listed op types: a list without a Transformer's linear ops leaves it float."""
    ops = q.get("quantize_op_types")
    if ops is not None and not isinstance(ops, list):
        t.fail(f"{name}.quantize_op_types", f"expected a list of op types, got {str(ops)[:60]!r}.")
    if ops is not None and not _LINEAR_OPS & set(map(str, ops)):
        t.fail(f"{name}.quantize_op_types", f"{str(ops)[:80]} quantizes nothing in a Transformer (its layers are "
               f"matmul_v2 ops), so the model would stay float. List {', '.join(sorted(_LINEAR_OPS))} or remove "
               "the key.")


def _quant_aware(t: _Translation, name: str, q: dict, distillation: bool) -> None:
    _check_keys(t, name, q, {"quantize_op_types", "weight_bits", "activation_bits", "not_quant_pattern",
                             "use_pact", "activation_quantize_type", "weight_quantize_type", "dtype",
                             "window_size", "moving_rate", "for_tensorrt", "onnx_format", "is_full_quantize"})
    if name == "Quantization":
        t.warn("Quantization", "PaddleSlim 2.6's ACT does not know this section name (it reads QuantAware) and "
               "would drop it silently, compressing without int8; mapped to qat, as the author meant")
    _check_quantize_op_types(t, name, q)
    if q.get("use_pact"):
        t.warn(f"{name}.use_pact", "PACT (a learned activation clip) is not part of ppliteformer's qat; it runs "
               "with moving-average abs-max activation scales instead")
    for key in ("weight_bits", "activation_bits"):
        if key in q:
            t.set("qat", key, q[key], f"{name}.{key}")
    if q.get("weight_quantize_type", "channel_wise_abs_max") != "channel_wise_abs_max":
        t.fail(f"{name}.weight_quantize_type", "only channel_wise_abs_max (per-channel weights) is used. Remove it.")
    t.lines.append(f"{name} -> qat (weights per channel, activations moving average abs max; other keys: ACT's "
                   "defaults)")
    if not distillation:
        t.warn(name, "without a Distillation section ACT 2.6 skips QAT silently (it runs QuantAware only paired "
               "with Distillation); ppliteformer's qat always trains against the teacher's logits, so it runs as "
               "if Distillation were given")


def _quant_post(t: _Translation, q: dict, hpo: bool) -> None:
    _check_keys(t, "QuantPost", q, {"batch_size", "batch_nums", "epochs", "lr", "algo", "hist_percent", "regions",
                                    "region_weights_names", "recon_level", "is_full_quantize", "bias_correction",
                                    "weight_quantize_type", "activation_quantize_type", "simulate_activation_quant",
                                    "skip_tensor_list", "onnx_format", "quantize_op_types", "weight_bits",
                                    "activation_bits"})
    _check_quantize_op_types(t, "QuantPost", q)
    algo = q.get("algo", "hist")
    if hpo:
        t.warn("HyperParameterOptimization", f"not searched: ptq runs one setting (algo {algo!r}); run ptq with "
               "other algo values to compare them in one report")
    t.set("ptq", "algo", algo, "QuantPost.algo")
    batch_size = _positive_int(t, "QuantPost.batch_size", q.get("batch_size", 32))
    t.set("ptq", "batch_size", batch_size, "QuantPost.batch_size")
    if q.get("batch_nums") is not None:
        batch_nums = _positive_int(t, "QuantPost.batch_nums", q["batch_nums"])
        t.set("ptq", "calibration_size", batch_size * batch_nums, "QuantPost.batch_nums",
              "times batch_size: the calibration texts")
    if q.get("recon_level"):
        t.fail("QuantPost.recon_level", "reconstruction PTQ is not run here. Remove it, or use QuantAware.")


def _searched_quantization(t: _Translation, q: dict, hpo: dict) -> None:
    """ACT 2.3 / 2.4's `Quantization` beside `HyperParameterOptimization`: post-training quantization with a
    search over its settings (PaddleSlim's NLP example: prune with distillation, then PTQ), not QAT."""
    _check_keys(t, "Quantization", q, {"quantize_op_types", "weight_bits", "activation_bits", "not_quant_pattern",
                                       "use_pact", "activation_quantize_type", "weight_quantize_type", "dtype",
                                       "window_size", "moving_rate", "for_tensorrt", "onnx_format",
                                       "is_full_quantize"})
    _check_keys(t, "HyperParameterOptimization", hpo, {"ptq_algo", "bias_correct", "weight_quantize_type",
                                                       "hist_percent", "batch_num", "max_quant_count"})
    _check_quantize_op_types(t, "Quantization", q)
    algos = hpo.get("ptq_algo") or ["hist"]
    algos = algos if isinstance(algos, list) else [algos]
    t.note("Quantization + HyperParameterOptimization", "ACT 2.3 / 2.4 run these as post-training quantization "
           "with a search over its settings, not as QAT: mapped to ptq")
    t.set("ptq", "algo", str(algos[0]), "HyperParameterOptimization.ptq_algo",
          "the first listed; ACT would search " + ", ".join(map(str, algos)) if len(algos) > 1 else "")
    if len(algos) > 1 or hpo.get("max_quant_count"):
        t.warn("HyperParameterOptimization", "not searched: ptq runs one setting; run ptq with the other algo "
               "values to compare them in one report")
    if hpo.get("batch_num") is not None:
        batches = hpo["batch_num"] if isinstance(hpo["batch_num"], list) else [hpo["batch_num"]]
        t.set("ptq", "calibration_size", 32 * _positive_int(t, "HyperParameterOptimization.batch_num", batches[0]),
              "HyperParameterOptimization.batch_num", "times ptq's batch size 32: the calibration texts")


def _distillation(t: _Translation, d: dict, model_dir: str) -> None:
    _check_keys(t, "Distillation", d, {"loss", "node", "alpha", "teacher_model_dir", "teacher_model_filename",
                                       "teacher_params_filename"})
    teacher_dir = d.get("teacher_model_dir")
    if teacher_dir and Path(str(teacher_dir)).resolve() != Path(model_dir).resolve():
        t.fail("Distillation.teacher_model_dir", "a teacher other than Global.model_dir is not supported: "
               "ppliteformer distils each step from the model in Global.model_dir. Remove the key.")
    t.note("Distillation", "every training step learns from the teacher's logits (KL at temperature 2 plus "
           "0.2 x the labels' cross-entropy); ACT's loss, node and alpha are not used")


def translate(raw: dict, path) -> tuple:
    """(a strategy mapping in ppliteformer's own format, the lines that explain the translation)."""
    path = Path(path)
    t = _Translation(path)
    for section in raw:
        if section in _UNSUPPORTED:
            t.fail(section, f"not supported: {_UNSUPPORTED[section]}. Remove the section.")
        if section not in ACT_SECTIONS:
            t.fail(section, f"not an ACT section: PaddleSlim 2.6's ACT would drop it without a word. Its "
                   f"sections: {', '.join(s for s in ACT_SECTIONS if s != 'Quantization')}. Fix the name or "
                   "remove it.")
    g = _mapping(t, raw, "Global")
    batch_size = _global(t, g)
    train = _train_settings(t, _mapping(t, raw, "TrainConfig"), str(g.get("task_name", "")).lower())
    if batch_size is not None:
        train["batch_size"] = batch_size
    distillation = "Distillation" in raw
    if distillation:
        _distillation(t, _mapping(t, raw, "Distillation"), str(g["model_dir"]))
    quant = [s for s in ("QuantAware", "Quantization", "QuantPost") if s in raw]
    if len(quant) > 1:
        t.fail(" and ".join(quant), "two int8 strategies: QuantAware trains, QuantPost calibrates; each makes the "
               "final int8 program. Keep one.")
    chain = []
    auto = not quant and "TransformerPrune" not in raw
    if auto:
        ratio = _AUTO_PRUNED_RATIO
        if distillation:
            t.warn("Distillation (alone)", "ACT would only fine-tune the model against itself, which makes it no "
                   "smaller; ppliteformer runs ACT's automatic choice for a Transformer instead")
        t.warn("(no strategy section)", f"ACT would choose a strategy itself: for a Transformer, "
               f"TransformerPrune {ratio} with distillation, then int8 by a quantization-loss test; "
               "ppliteformer runs prune then qat, the same steps, every time")
    elif "TransformerPrune" in raw:
        prune = _mapping(t, raw, "TransformerPrune")
        _check_keys(t, "TransformerPrune", prune, {"pruned_ratio"})
        ratio = prune.get("pruned_ratio")
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 < ratio < 1:
            t.fail("TransformerPrune.pruned_ratio", f"expected a fraction in (0, 1), got {ratio!r}.")
        if not distillation:
            t.warn("TransformerPrune", "without a Distillation section ACT 2.6 skips pruning silently (it runs "
                   "TransformerPrune only paired with Distillation); ppliteformer's prune fine-tunes against the "
                   "teacher's logits, so it runs as if Distillation were given")
    if auto or "TransformerPrune" in raw:
        chain.append("prune")
        source = "(automatic) TransformerPrune" if auto else "TransformerPrune.pruned_ratio"
        for key in ("head_keep_ratio", "ffn_keep_ratio"):
            t.set("prune", key, round(1 - ratio, 6), source, f"1 - pruned_ratio {ratio}")
    legacy_ptq = quant == ["Quantization"] and "HyperParameterOptimization" in raw
    if quant == ["QuantPost"]:
        _quant_post(t, _mapping(t, raw, "QuantPost"), "HyperParameterOptimization" in raw)
        chain.append("ptq")
    elif legacy_ptq:
        _searched_quantization(t, _mapping(t, raw, "Quantization"), _mapping(t, raw, "HyperParameterOptimization"))
        chain.append("ptq")
    elif quant or auto:
        _quant_aware(t, quant[0] if quant else "QuantAware", _mapping(t, raw, quant[0]) if quant else {},
                     distillation or auto)
        chain.append("qat")
    if "HyperParameterOptimization" in raw and "ptq" not in chain:
        t.warn("HyperParameterOptimization", "ignored: it tunes QuantPost, which this config does not use "
               "(ACT ignores it too)")
    for step in chain:
        if step != "ptq":
            for key, value in train.items():
                t.sections.setdefault(step, {})[key] = value
    if train:
        t.lines.append("TrainConfig / Global.batch_size -> " + ", ".join(f"{k} {v!r}" for k, v in train.items())
                       + f" for {', '.join(s for s in chain if s != 'ptq') or 'no training step'} (ACT trains "
                       "its strategies together in one run; ppliteformer runs each step in turn with these)")
    t.lines.append(f"chain: {' -> '.join(chain)}")
    return {"name": path.stem, "chain": chain, **t.sections}, t.lines
