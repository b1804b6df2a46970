"""What runs on (or drives) the device, shipped inside the package so that a bundle can be
made from any install, editable or not:

    predictor.py            the standalone predictor, copied into each bundle as predict.py
    lite_runtime.py         the model's input arrays and the Lite runtimes (predict.py's and the host's)
    model_files.py          a model folder's files: meta, vocabulary, the device's error (standard library only)
    run_on_board.py         ssh/scp a bundle to an ARM Linux board, self-check and time it there
    run_on_android.py       adb push and Paddle Lite's benchmark_bin on a phone
    benchmark_bin_output.py the parser of benchmark_bin's output
    _common.py              what the two drivers share
    tag_spans.py            entity spans from BIO/BIOES tags (predict.py's token tasks; the host scores with it)
    README.md               how to use them (copied into bundles too)

Everything here imports only the standard library, numpy, tokenizers, paddlelite and its own
siblings (tests/test_device_package.py checks it): a board has no paddle or paddlenlp, and a
bundle holds these files flat in one folder.
"""
from pathlib import Path

DEVICE_DIR = Path(__file__).resolve().parent
PREDICTOR = DEVICE_DIR / "predictor.py"
DEPLOY_SCRIPTS = ("lite_runtime.py", "model_files.py", "tag_spans.py", "run_on_board.py", "run_on_android.py",
                  "benchmark_bin_output.py", "_common.py", "README.md")
