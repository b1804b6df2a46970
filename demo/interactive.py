#!/usr/bin/env python3
"""Type a sentence, see the label, its probability and how long the `.nb` took.

    .venv/bin/python demo/interactive.py [MODEL_FOLDER]

MODEL_FOLDER is a folder with model.nb, vocab.txt and ppliteformer_meta.json, such as a
bundle or a convert/x86 folder (default: the final model of work/full_mobile if its x86
.nb exists, else work/baseline/convert/x86). An empty line or Ctrl-D ends it.
"""
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "deploy" / "python"))
from predict import PredictorError, TextClassifier, mkl_avx2_env  # noqa: E402  (the standalone predictor)

DEFAULTS = (REPO / "work/full_mobile/trim_vocab_convert/x86", REPO / "work/baseline/convert/x86")


def main(argv) -> int:
    folder = Path(argv[0]) if argv else next((d for d in DEFAULTS if (d / "model.nb").is_file()), None)
    if folder is None:
        print("error: no model found. Run 'bash demo/quickstart.sh' first, or give a model folder "
              "(model.nb, vocab.txt, ppliteformer_meta.json).", file=sys.stderr)
        return 2
    os.environ.update(mkl_avx2_env())  # before the first Lite run: MKL's AVX2 code on AMD CPUs
    try:
        classifier = TextClassifier(folder)
    except PredictorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model: {folder} (labels: {', '.join(classifier.labels)}). Type a sentence; an empty line ends.")
    while True:
        try:
            text = input("> ")
        except EOFError:
            break
        if not text.strip():
            break
        start = time.perf_counter()
        result = classifier.predict(text)
        print(f"{result['label']}  p={result['probability']:.3f}  {(time.perf_counter() - start) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
