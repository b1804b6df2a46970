"""A PaddleNLP model rebuilt from an exported inference model (.pdmodel + .pdiparams + vocab).

PaddleSlim ACT starts from such a folder (`Global.model_dir`), and it is often all a team
has of a fine-tuned model. Every ppliteformer step needs the dygraph model (pruning
reshapes its layers, distillation trains students against it), so the folder's program is
read once, an ERNIE of the same shape is built, and the program's parameters are loaded into
it. Parameters keep their dygraph names in an exported program (``linear_28.w_0``), and
within one layer type the counter follows creation order, so ranking each type by its
counter pairs them with a fresh model's parameters. The result is trusted only after it
reproduces the program's logits on Paddle Inference; the user's folder is never written.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

LOGITS_ATOL = 1e-4
_PARAM_NAME = re.compile(r"^(?P<kind>[a-z_]+?)_(?P<number>\d+)\.(?P<suffix>[wb]_\d+)$")


def find_program(folder, model_filename: str | None = None, params_filename: str | None = None):
    """(model file, params file) in ``folder``: the ones named, or the folder's only .pdmodel pair."""
    folder = Path(folder)
    if model_filename:
        model = folder / model_filename
        params = folder / (params_filename or Path(model_filename).with_suffix(".pdiparams").name)
    else:
        programs = sorted(folder.glob("*.pdmodel"))
        if len(programs) != 1:
            found = ", ".join(p.name for p in programs) or "none"
            raise ModelFileError(f"{folder}: expected one exported program (*.pdmodel), found {found}. Name the "
                                 "one to use (Global.model_filename / params_filename in an ACT config).")
        model, params = programs[0], programs[0].with_suffix(".pdiparams")
    for path, what in ((model, "program"), (params, "parameters")):
        if not path.is_file():
            raise ModelFileError(f"{folder}: the {what} file {path.name} is missing. An exported inference model "
                                 "is a .pdmodel and a .pdiparams file (paddle.jit.save or "
                                 "paddle.static.save_inference_model) with the tokenizer's vocab.txt beside them.")
    if not (folder / "vocab.txt").is_file():
        raise ModelFileError(f"{folder}: vocab.txt is missing beside {model.name}. Save the tokenizer into the same "
                             "folder (tokenizer.save_pretrained(folder)); ppliteformer needs it to read text.")
    return model, params


def is_inference_model_folder(folder) -> bool:
    folder = Path(folder)
    return folder.is_dir() and any(folder.glob("*.pdmodel")) and \
        not any((folder / name).is_file() for name in ("model_config.json", "config.json"))


@dataclass
class _Program:
    feeds: list
    op_types: Counter
    reshape_shapes: list
    layer_norm_eps: float
    params: dict  # name -> np.ndarray


def _read_program(model_file: Path, params_file: Path) -> _Program:
    import paddle

    from ..runtimes.host import static_program

    try:
        with static_program(model_file.parent, model_file.name, params_file.name) as (program, feeds, _, _):
            scope = paddle.static.global_scope()
            ops = program.global_block().ops
            params = {v.name: np.array(scope.find_var(v.name).get_tensor())
                      for v in program.list_vars() if v.persistable and v.name not in ("feed", "fetch")}
    except Exception as exc:  # Paddle raises many kinds for a damaged file
        raise ModelFileError(f"{model_file}: Paddle could not load this inference model ({str(exc).splitlines()[0]}). "
                             "Export it again with paddle.jit.save.") from None
    eps = [op.attr("epsilon") for op in ops if op.type == "layer_norm"]
    return _Program(feeds=list(feeds), op_types=Counter(op.type for op in ops),
                    reshape_shapes=[list(op.attr("shape")) for op in ops if op.type == "reshape2"],
                    layer_norm_eps=float(eps[0]) if eps else 1e-12, params=params)


def _ranked(params: dict) -> dict:
    """kind ('linear', 'embedding', 'layer_norm') -> [(suffix -> array) per layer, in creation order]."""
    by_kind = defaultdict(dict)
    for name, value in params.items():
        match = _PARAM_NAME.match(name)
        if not match:
            raise ModelFileError(f"parameter '{name}' does not carry a dygraph layer name (such as linear_3.w_0), "
                                 "so its place in the model cannot be told. Export the model with paddle.jit.save "
                                 "from PaddleNLP.")
        by_kind[match["kind"]].setdefault(int(match["number"]), {})[match["suffix"]] = value
    return {kind: [layers[n] for n in sorted(layers)] for kind, layers in by_kind.items()}


def _shape_settings(program: _Program, ranked: dict, source: str, task) -> dict:
    """The config values every family shares, read from parameter shapes and op attributes; the head's
    (the linear layers after the encoder's) as ``task.head_from_program`` reads them."""
    def refuse(why):
        raise ModelFileError(f"{source}: not an ERNIE/BERT-shaped model of task {task.name} ({why}); ppliteformer "
                             "rebuilds only those from an inference model. Give the folder save_pretrained wrote "
                             "instead (model_config.json + model_state.pdparams).")

    embeddings, linears, norms = ranked.get("embedding", []), ranked.get("linear", []), ranked.get("layer_norm", [])
    layers = (len(norms) - 1) // 2  # the embeddings' norm, then two per encoder layer
    if len(embeddings) not in (3, 4) or layers < 1 or len(norms) != 1 + 2 * layers or len(linears) <= 6 * layers:
        refuse(f"{len(embeddings)} embeddings, {len(linears)} linear layers, {len(norms)} layer norms")
    try:
        head = task.head_from_program([int(values["w_0"].shape[1]) for values in linears[6 * layers:]])
    except ValueError as exc:
        refuse(str(exc))
    vocab_size, hidden = embeddings[0]["w_0"].shape
    heads = [s[2] for s in program.reshape_shapes if len(s) == 4 and s[3] > 0 and s[2] * s[3] == hidden]
    if not heads:
        refuse("no reshape into attention heads")
    act = "gelu" if program.op_types.get("gelu") else "relu" if program.op_types.get("relu") else None
    if act is None:
        refuse("no gelu or relu activation")
    return dict(
        vocab_size=int(vocab_size), hidden_size=int(hidden), num_hidden_layers=layers,
        num_attention_heads=int(heads[0]), intermediate_size=int(linears[4]["w_0"].shape[1]), hidden_act=act,
        max_position_embeddings=int(embeddings[1]["w_0"].shape[0]), type_vocab_size=int(embeddings[2]["w_0"].shape[0]),
        layer_norm_eps=program.layer_norm_eps, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0, **head)


def _candidates(settings: dict, ranked: dict, task):
    """The families whose parameters an exported ERNIE/BERT/RoBERTa model of ``task`` can fill, most likely
    first: ERNIE (which also computes BERT exactly, and carries task ids), then RoBERTa (other position ids)."""
    import paddlenlp.transformers as transformers

    embeddings = ranked["embedding"]
    task_ids = len(embeddings) == 4
    yield task.model_class("ErnieForSequenceClassification")(transformers.ErnieConfig(
        **settings, use_task_id=task_ids, task_type_vocab_size=int(embeddings[3]["w_0"].shape[0]) if task_ids else 3))
    if not task_ids:
        yield task.model_class("RobertaForSequenceClassification")(transformers.RobertaConfig(**settings))


def _unused_pooler(model, ranked: dict) -> set:
    """The names of the pooler's parameters when the program holds none (a token classifier's outputs never
    read it, so export leaves it out); they keep their fresh values."""
    from .families import base_model

    pooler = getattr(base_model(model), "pooler", None)
    names = {p.name for p in pooler.parameters()} if pooler is not None else set()
    mine = len(_ranked({p.name: p for p in model.parameters()}).get("linear", []))
    return names if names and mine == len(ranked.get("linear", [])) + 1 else set()


def _load_weights(model, ranked: dict, source: str) -> None:
    skipped = _unused_pooler(model, ranked)
    mine = _ranked({p.name: p for p in model.parameters() if p.name not in skipped})
    state = {}
    for kind, layers in mine.items():
        theirs = ranked.get(kind, [])
        for params, values in zip(layers, theirs):
            for suffix, param in params.items():
                value = values.get(suffix)
                if value is None or tuple(value.shape) != tuple(param.shape):
                    raise ModelFileError(f"{source}: parameter {param.name} ({kind}) has no counterpart of shape "
                                         f"{tuple(param.shape)} in the program; it is not an ERNIE/BERT shape that "
                                         "can be rebuilt. Give the save_pretrained folder instead.")
                state[param.name] = value
    for param in model.parameters():
        if param.name not in skipped:
            param.set_value(state[param.name])


def _inference_outputs(model_file: Path, params_file: Path, feeds: list, arrays: dict) -> list:
    import paddle.inference as pi

    config = pi.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.disable_glog_info()
    predictor = pi.create_predictor(config)
    for name in feeds:
        handle = predictor.get_input_handle(name)
        handle.reshape(arrays[name].shape)
        handle.copy_from_cpu(arrays[name])
    predictor.run()
    return [predictor.get_output_handle(name).copy_to_cpu() for name in predictor.get_output_names()]


def _check_arrays(feeds: list, vocab_size: int, source: str) -> dict:
    known = {"input_ids", "token_type_ids", "position_ids", "attention_mask"}
    if not set(feeds) <= known or "input_ids" not in feeds:
        raise ModelFileError(f"{source}: the program's inputs ({', '.join(feeds)}) are not PaddleNLP's "
                             f"({', '.join(sorted(known))}), so its logits cannot be checked against the rebuild.")
    rng = np.random.RandomState(0)
    ids = rng.randint(1, vocab_size, size=(2, 16)).astype("int64")
    return {"input_ids": ids, "token_type_ids": np.zeros_like(ids),
            "position_ids": np.tile(np.arange(16, dtype="int64"), (2, 1)),
            "attention_mask": np.ones(ids.shape, dtype="float32")}


def rebuild_from_inference_model(folder, model_filename: str | None = None, params_filename: str | None = None,
                                 task=None):
    """(a PaddleNLP model of ``task`` (default seq_cls) with the program's weights, largest logit difference
    vs the program).

    Each candidate family is filled with the program's parameters and run on the same ids as the
    program (Paddle Inference); the first whose outputs (every one of them) agree within LOGITS_ATOL is
    returned."""
    from ..runtimes.host import DygraphModel
    from ..tasks import DEFAULT_TASK, get_task

    task = task or get_task(DEFAULT_TASK)
    model_file, params_file = find_program(folder, model_filename, params_filename)
    program = _read_program(model_file, params_file)
    ranked = _ranked(program.params)
    settings = _shape_settings(program, ranked, str(folder), task)
    arrays = _check_arrays(program.feeds, settings["vocab_size"], str(folder))
    expected = _inference_outputs(model_file, params_file, program.feeds, arrays)
    tried = []
    for model in _candidates(settings, ranked, task):
        _load_weights(model, ranked, str(folder))
        got = DygraphModel(model).run({k: arrays[k] for k in program.feeds})
        if [o.shape for o in got] != [o.shape for o in expected]:
            shapes = ", ".join(str(list(o.shape)) for o in expected)
            raise ModelFileError(f"{folder}: the program's outputs ({shapes} for 2 texts of 16 tokens) are not those of "
                                 f"a {task.name} model ({task.summary}): it was exported for another task. Set the "
                                 "strategy's task to the model's, or give a model of this task.")
        diff = max(float(np.abs(a - b).max()) for a, b in zip(got, expected))
        if diff <= LOGITS_ATOL:
            return model, diff
        tried.append(f"{type(model).__name__} {diff:.2e}")
    raise ModelFileError(f"{folder}: no {task.name} model rebuilt from the program reproduces its outputs (Paddle "
                         f"Inference; {', '.join(tried)}), so it is not a model ppliteformer can rebuild. Give the "
                         "save_pretrained folder (model_config.json + model_state.pdparams) instead.")
