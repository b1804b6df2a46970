"""Where everything lives in a work directory: stage folder names and file names, in one place.

    WORKDIR/
        manifest.json  .lock  report.json  report.html  report.md
        data/splits.json
        teacher/                      a checkpoint: weights, model_config.json, task.json, vocab
        export/                       the teacher's inference model: model.pdmodel/.pdiparams, vocab, meta
        convert/{arm,x86}/model.nb    evaluate/  arm_evaluate/  bench/
        teacher_logits/train_logits.npy
        <step>/                       a chain step's output: a checkpoint, or (int8 steps) an inference model
        <step>_export/  <step>_convert/  <step>_evaluate/  <step>_arm_evaluate/  <step>_bench/
        bundle/<artifact>-<target>/
    every stage folder also holds stage_config.json (the config it ran with).

Standard library only (and the device's file names): the report renderer and the CLI read it
without importing Paddle. Where an artifact's inference model lives depends on its step
(``steps.model_stage_name``).
"""
from __future__ import annotations

from pathlib import Path

from .device.model_files import META_FILE, VOCAB_FILE  # noqa: F401 (re-exported: the device reads them too)

MANIFEST = "manifest.json"
LOCK_FILE = ".lock"
STAGE_CONFIG = "stage_config.json"
REPORT_FILE = "report.json"
BUNDLE_DIR = "bundle"

SPLITS_FILE = "splits.json"             # in the data stage's folder
TEACHER_LOGITS_FILE = "train_logits.npy"  # in teacher_logits/

MODEL_FILE = "model.pdmodel"             # an inference model folder
PARAMS_FILE = "model.pdiparams"
NB_FILE = "model.nb"                     # in <convert stage>/<target>/

STRUCTURE_FILE = "structure.json"        # a compressed checkpoint: widths, int8 embedding, ...
WEIGHTS_FILE = "model_state.pdparams"
CONFIG_FILE = "model_config.json"
TASK_FILE = "task.json"                  # label names and max_seq_len

TEACHER = "teacher"
DATA_STAGE = "data"


def artifact_stage_name(artifact: str, kind: str) -> str:
    """The stage of ``kind`` (export, convert, evaluate, arm_evaluate, bench) for an artifact."""
    return kind if artifact == TEACHER else f"{artifact}_{kind}"


def convert_folder(workdir, artifact: str) -> Path:
    """The folder with ``<target>/model.nb`` of an artifact."""
    return Path(workdir) / artifact_stage_name(artifact, "convert")


PRETRAIN = "pretrain"                    # the pretrain stage's folder: vocab.txt, the encoder's weights
ENCODER_FILE = "encoder.pdparams"
