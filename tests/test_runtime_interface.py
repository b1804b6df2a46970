"""Every runtime returns every output of a model with two (the shape of a joint intent + slots model):
Paddle Inference, the dygraph model, Paddle Lite x86, and Paddle Lite's ARM kernels under qemu
(ppl_run through the C shim), all through ``runtimes.outputs_over``."""
import numpy as np
import pytest

from ppliteformer.arm.toolchain import missing_parts

pytestmark = pytest.mark.tiny

SEQ_LEN, CLASSES, TAGS = 12, 3, 5


def _two_headed_layer():
    import paddle

    class TwoHeads(paddle.nn.Layer):
        """[batch, classes] from the first token and [batch, tokens, tags] from every token."""

        def __init__(self):
            super().__init__()
            self.embedding = paddle.nn.Embedding(50, 8)
            self.types = paddle.nn.Embedding(2, 8)
            self.sentence = paddle.nn.Linear(8, CLASSES)
            self.tokens = paddle.nn.Linear(8, TAGS)

        def forward(self, input_ids, token_type_ids, position_ids, attention_mask):
            hidden = self.embedding(input_ids) + self.types(token_type_ids)
            hidden = hidden * attention_mask.reshape([0, -1, 1]) + paddle.cast(position_ids, "float32").unsqueeze(-1)
            return self.sentence(hidden[:, 0]), self.tokens(hidden)

    paddle.seed(0)
    return TwoHeads()


@pytest.fixture(scope="module")
def two_output_model(tmp_path_factory):
    """The layer, its inference model and its x86 and arm .nb files."""
    import paddle

    from ppliteformer.runtimes.lite_convert import convert_model

    folder = tmp_path_factory.mktemp("two_heads")
    layer = _two_headed_layer()
    layer.eval()
    specs = [paddle.static.InputSpec([None, None], "int64", name) for name in
             ("input_ids", "token_type_ids", "position_ids")]
    specs.append(paddle.static.InputSpec([None, None], "float32", "attention_mask"))
    paddle.jit.save(layer, str(folder / "export" / "model"), input_spec=specs)
    nbs = {target: convert_model(folder / "export", folder / target, target) for target in ("x86", "arm")}
    return layer, folder / "export", nbs


def _agree(reference: list, other: list, atol: float) -> None:
    assert len(reference) == len(other)
    for expected, got in zip(reference, other):
        assert isinstance(got, tuple) and len(got) == 2
        for a, b in zip(expected, got):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=atol)


def test_every_runtime_returns_both_outputs_cut_to_each_item(two_output_model):
    from ppliteformer.runtimes.host import DygraphModel, PaddleInferenceModel, open_lite, outputs_over

    layer, export, nbs = two_output_model
    ids = [[1, 7, 2], [1, 9, 11, 13, 4, 2], [1, 3, 2, 0, 5, 6, 8, 9, 2]]
    reference = outputs_over(PaddleInferenceModel(export, threads=1), ids, 0, batch_size=2)
    for row, (sentence, tokens) in zip(ids, reference):  # the token output is cut to the item's own length
        assert sentence.shape == (CLASSES,) and tokens.shape == (len(row), TAGS)
    _agree(reference, outputs_over(DygraphModel(layer), ids, 0, batch_size=3), 1e-5)
    _agree(reference, outputs_over(open_lite(nbs["x86"]), ids, 0, batch_size=1), 1e-5)
    if missing_parts():
        pytest.skip("the ARM half needs the Paddle Lite ARM build and qemu: " + "; ".join(missing_parts()))
    from ppliteformer.arm.emulator import ArmEmulator, ArmKernelsModel
    from ppliteformer.arm.toolchain import ensure_toolchain

    arm = ArmKernelsModel(ArmEmulator(ensure_toolchain()), nbs["arm"], "int64")
    _agree(reference, outputs_over(arm, ids, 0, batch_size=1), 1e-4)


def test_a_one_output_model_still_gives_one_array_per_item(tiny_run):
    from ppliteformer.runtimes.host import PaddleInferenceModel, outputs_over

    workdir, _ = tiny_run
    outputs = outputs_over(PaddleInferenceModel(workdir / "export", threads=1), [[1, 5, 2], [1, 6, 7, 2]], 0, 2)
    assert all(isinstance(o, np.ndarray) and o.shape == (2,) for o in outputs)
