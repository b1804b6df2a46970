"""export.input_dtype: int32 id inputs (as ERNIE 3.0 Tiny deploys on phones) through export, int8 steps,
Lite x86, the ARM kernels and the predictor; a feed of the other dtype is refused, not misread."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppliteformer.config.strategy import load_strategy
from ppliteformer.errors import ConfigError

from .conftest import TINY_STRATEGY


def _int32_run(tmp_path, corpus_tsv, chain: str):
    from ppliteformer.pipeline.workflow import run_strategy

    strategy = tmp_path / "int32.yaml"
    strategy.write_text(TINY_STRATEGY.format(data=corpus_tsv) + "export: {input_dtype: int32}\n" + chain,
                        encoding="utf-8")
    return run_strategy(strategy, workdir=tmp_path / "work"), tmp_path / "work"


def _feed_dtypes(model_dir) -> dict:
    from ppliteformer.runtimes.host import static_program

    with static_program(model_dir) as (program, feeds, _, _):
        return {name: str(program.global_block().var(name).dtype) for name in feeds}


@pytest.mark.tiny
def test_int32_inputs_through_int8_embeddings_and_qat(tmp_path, corpus_tsv):
    from ppliteformer.device.lite_runtime import LiteModel, batch_arrays
    from ppliteformer.device.model_files import PredictorError

    report, work = _int32_run(tmp_path, corpus_tsv, "chain: [embedding_int8, qat]\nqat: {epochs: 1}\n")
    for folder in ("export", "embedding_int8_export", "qat"):
        dtypes = _feed_dtypes(work / folder)
        assert dtypes.pop("attention_mask") == "paddle.float32"
        assert set(dtypes.values()) == {"paddle.int32"}, (folder, dtypes)
    for artifact in report.artifacts:  # every runtime agreed with Paddle Inference on the int32 program
        assert artifact.accuracy is not None and (artifact.int8 or artifact.accuracy_x86_lite == artifact.accuracy)
    model = LiteModel(work / "embedding_int8_convert" / "x86" / "model.nb")
    assert model.id_dtype == "int32" and [o.shape for o in model.run(batch_arrays([[1, 40, 2]], id_dtype="int32"))] == [(1, 2)]
    with pytest.raises(PredictorError, match="input_ids is int64, but .* was exported for int32 ids"):
        model.run(batch_arrays([[1, 40, 2]]))
    script = Path(sys.executable).parent / "ppliteformer"
    proc = subprocess.run([str(script), "predict", "--model", str(work / "embedding_int8_convert" / "x86"),
                           "--text", "不错"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.split("\t")[0] in ("negative", "positive"), proc.stderr


@pytest.mark.tiny
def test_int32_inputs_through_ptq(tmp_path, corpus_tsv):
    report, work = _int32_run(tmp_path, corpus_tsv, "chain: [ptq]\nptq: {calibration_size: 32}\n")
    assert set(_feed_dtypes(work / "ptq").values()) == {"paddle.int32", "paddle.float32"}
    assert report.artifacts[-1].accuracy > 0.5


@pytest.mark.unit
def test_input_dtype_and_bench_length_are_checked(tmp_path):
    strategy = tmp_path / "s.yaml"
    strategy.write_text("export: {input_dtype: float32}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="input_dtype must be int64 or int32"):
        load_strategy(strategy)
    strategy.write_text("data: {max_seq_len: 64}\nbench: {seq_len: 128}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bench.seq_len 128 is longer than data.max_seq_len 64"):
        load_strategy(strategy)
    strategy.write_text("export: {input_dtype: int32}\n", encoding="utf-8")
    assert load_strategy(strategy).export.input_dtype == "int32"


@pytest.mark.unit
def test_batch_arrays_give_ids_in_the_models_dtype():
    from ppliteformer.device.lite_runtime import batch_arrays, check_feed_dtypes

    arrays = batch_arrays([[1, 2, 3], [1, 2]], pad_id=0, id_dtype="int32")
    assert {k: str(v.dtype) for k, v in arrays.items()} == {
        "input_ids": "int32", "token_type_ids": "int32", "position_ids": "int32", "attention_mask": "float32"}
    assert arrays["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]] and np.all(arrays["input_ids"][1] == [1, 2, 0])
    check_feed_dtypes(arrays, "int32", "m")
