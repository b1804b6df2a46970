"""Cheap checks of a strategy's inputs, run before any stage so a mistake costs seconds.

The stages check again where they read (a file can change under a long run); these
checks only move the common mistakes to the front.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config.strategy import Strategy
from ..ranks import per_rank_batch
from ..tasks.seq_data import BUILTIN, BUILTIN_PAIRS
from ..errors import ConfigError, DataError, ModelFileError
from ..models.inference_import import find_program, is_inference_model_folder
from ..models.modeling import PRESET_SOURCE, PRESETS

# What save_pretrained writes: a model config and weights (names differ across PaddleNLP versions).
_MODEL_CONFIG_FILES = ("model_config.json", "config.json")
_MODEL_WEIGHT_FILES = ("model_state.pdparams", "model_state.safetensors")


def _looks_like_path(source: str) -> bool:
    return os.sep in source or source.startswith(".") or Path(source).exists()


def check_data_source(source: str) -> None:
    if source in (BUILTIN, BUILTIN_PAIRS):
        return
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{path} is a folder; data.source must be a .tsv or .jsonl file in it (or 'builtin', "
                        f"'{BUILTIN_PAIRS}'). Name the file.")
    if not path.is_file():
        raise DataError(f"{path}: dataset file not found. Check data.source in the strategy YAML "
                        f"(a .tsv or .jsonl file, or 'builtin', '{BUILTIN_PAIRS}').")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: the dataset file cannot be read (permission denied). Make it readable.")


def check_model_folder(source: str, model_filename: str = "", params_filename: str = "") -> None:
    folder = Path(source)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder. teacher.source must be 'preset', a PaddleNLP "
                             "model name, a folder written by save_pretrained, or an exported inference model "
                             "folder (.pdmodel, .pdiparams, vocab.txt).")
    if is_inference_model_folder(folder):
        find_program(folder, model_filename or None, params_filename or None)  # what is missing, before any stage
        return
    if not any((folder / n).is_file() for n in _MODEL_CONFIG_FILES) or \
            not any((folder / n).is_file() for n in _MODEL_WEIGHT_FILES):
        raise ModelFileError(f"{folder} is not a saved model: it needs {' or '.join(_MODEL_CONFIG_FILES)} and "
                             f"{' or '.join(_MODEL_WEIGHT_FILES)} (what save_pretrained writes), or a .pdmodel, "
                             ".pdiparams and vocab.txt (an exported inference model). Point teacher.source at "
                             "such a folder.")


def _check_batches_split_over_ranks(strategy: Strategy) -> None:
    from ..steps.settings import TrainingConfig

    sections = {"pretrain": strategy.pretrain, "teacher": strategy.teacher, **strategy.steps}
    for name, section in sections.items():
        if isinstance(section, TrainingConfig) and (name in ("pretrain", "teacher") or name in strategy.chain):
            per_rank_batch(section.batch_size, f"{strategy.source_file}: section '{name}'")


def check_strategy_inputs(strategy: Strategy) -> None:
    """Raise a user-facing error for a missing data file, model folder or preset, or a batch that the ranks
    of a paddle.distributed job cannot share evenly."""
    check_data_source(strategy.data.source)
    _check_batches_split_over_ranks(strategy)
    if strategy.pretrain is not None and strategy.pretrain.text_file != "-" and \
            not os.access(strategy.pretrain.text_file, os.R_OK):
        raise DataError(f"{strategy.pretrain.text_file}: no such readable file. Check pretrain.text_file in the "
                        "strategy YAML (unlabelled texts, one per line, UTF-8), or remove it to pre-train on the "
                        "train split's texts.")
    teacher = strategy.teacher
    if teacher.source == PRESET_SOURCE:
        if teacher.preset not in PRESETS:
            raise ConfigError(f"{strategy.source_file}: section 'teacher': unknown preset '{teacher.preset}'. "
                              f"Choose one of: {', '.join(PRESETS)}.")
    elif _looks_like_path(teacher.source):
        check_model_folder(teacher.source, teacher.model_filename, teacher.params_filename)
