"""Deploy bundles: one self-contained folder per artifact and target, ready to copy to a device.

    bundle/<artifact>-<target>/
        model.nb  vocab.txt  ppliteformer_meta.json   the model, as the predictor reads it
        predict.py                                    the standalone predictor (numpy, paddlelite, tokenizers)
        selfcheck.json                                sample texts with the labels and logits made here
        run_on_board.py  run_on_android.py  ...       the deploy scripts of deploy/arm
        README.txt

The expected logits come from this machine. For an arm bundle, when the ARM toolchain is here
(ppliteformer/arm), they are this very .nb's outputs on Paddle Lite's ARM kernels under qemu,
so a device compares like with like (1e-3, fp32 and int8 alike), and lib/ holds the C shim and
Lite's library for boards without the paddlelite package. An arm_fp16 bundle (opt --enable_fp16)
is made the same way from the fp16 Lite build, whose library its lib/ holds: it runs on ARMv8.2-A
cores with FP16 arithmetic only (its meta and README say so, and predict.py refuses any other core),
beside the arm bundle for every other core. Otherwise: Lite x86 for a float model (tight
tolerance), Paddle Inference on the int8 program for an int8 one (a loose one), and for an fp16
model the float reference at fp16's tolerance.
The samples are the most confident test texts, whose label a small difference cannot flip.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..atomic import temporary_name
from ..device import DEPLOY_SCRIPTS, DEVICE_DIR, PREDICTOR
from ..device.lite_runtime import item_output
from ..device.predictor import TextClassifier, checked_line
from ..errors import ConfigError
from ..layout import BUNDLE_DIR, DATA_STAGE, META_FILE, NB_FILE, VOCAB_FILE, convert_folder
from ..runtimes.host import PaddleInferenceModel, open_lite
from ..steps import model_folder

SELFCHECK_FILE = "selfcheck.json"
ATOL = {"fp32": 1e-3, "int8": 0.25, "fp16": 0.1, "arm_kernels": 1e-3}
ARM_KERNELS_LABEL = "paddle_lite_arm_kernels_qemu (this .nb on Paddle Lite's ARM kernels, emulated here)"


def _expected(classifier: TextClassifier, text: str, text_pair, logits) -> dict:
    """A self-check sample: the input, what predict.py prints of it (a label, or a token model's
    entities) and the logits that came from."""
    decoded = classifier.decode(text, text_pair, logits)
    pair = {} if text_pair is None else {"text_pair": text_pair}
    shown = {"entities" if "entities" in decoded else "label": checked_line(decoded)}
    return {"text": text, **pair, **shown, "logits": decoded["logits"]}


def _margin(output) -> float:
    """The smallest gap between the two largest logits (over every piece of a token model's output, and
    over both outputs of an slu model)."""
    if isinstance(output, tuple):
        return min(_margin(part) for part in output)
    top = np.sort(np.atleast_2d(output), axis=-1)
    return float((top[:, -1] - top[:, -2]).min())


def _samples(workdir: Path, classifier: TextClassifier, reference, count: int, pool: int = 200) -> list:
    """The ``count`` test-split inputs (of the first ``pool``) with the widest gap between the top two
    logits, so that a device's rounding cannot flip their label (or any token's tag)."""
    from ..tasks import read_task_splits

    task, splits = read_task_splits(workdir / DATA_STAGE)
    candidates = []
    for text, text_pair in (task.sample_input(item, classifier.meta) for item in splits.test[:pool]):
        ids = classifier.encode(text, text_pair, warn=False)
        logits = item_output(reference.run(classifier.arrays([ids])), 0, len(ids))
        candidates.append((_margin(logits), text, text_pair, logits))
    candidates.sort(key=lambda c: -c[0])
    return [_expected(classifier, text, text_pair, logits) for _, text, text_pair, logits in candidates[:count]]


def _arm_expected(samples: list, classifier: TextClassifier, arm_nb: Path, toolchain) -> list:
    """The same samples with the logits Paddle Lite's ARM kernels give (under qemu)."""
    from ..arm.emulator import ArmEmulator, ArmKernelsModel

    ids = [classifier.encode(s["text"], s.get("text_pair"), warn=False) for s in samples]
    arm = ArmKernelsModel(ArmEmulator(toolchain), arm_nb, classifier.id_dtype)
    outputs = arm.run_many([classifier.arrays([row]) for row in ids])
    return [_expected(classifier, s["text"], s.get("text_pair"), item_output(out, 0, len(row)))
            for s, out, row in zip(samples, outputs, ids)]


def make_bundle(workdir, artifact: str | None = None, out_dir=None, samples: int = 8, arm_toolchain=None,
                arm_fp16_toolchain=None) -> list:
    """Bundle ``artifact`` (default: the report's final) for each target it was converted to.

    With ``arm_toolchain`` (an ArmToolchain) the arm bundle's expected logits come from Paddle
    Lite's ARM kernels, and its lib/ gets the libraries predict.py needs where no paddlelite
    package exists; ``arm_fp16_toolchain`` does the same for the arm_fp16 bundle.
    """
    from ..report.render import read_report

    workdir = Path(workdir)
    report = read_report(workdir)
    names = [a.name for a in report.artifacts]
    artifact = artifact or report.final
    if artifact not in names:
        raise ConfigError(f"{workdir} has no artifact '{artifact}'. Its artifacts: {', '.join(names)}.")
    converted, model_dir = convert_folder(workdir, artifact), model_folder(workdir, artifact)
    int8 = report.artifact(artifact).int8
    x86 = converted / "x86"
    reference_dir = x86 if x86.is_dir() else converted / "arm"
    classifier = TextClassifier(reference_dir, load_model=False)
    reference = open_lite(x86 / NB_FILE) if x86.is_dir() else PaddleInferenceModel(model_dir, threads=1)
    chosen = _samples(workdir, classifier, reference, samples)
    here = {"atol": ATOL["int8" if int8 else "fp32"], "artifact": artifact, "samples": chosen,
            "made_with": "paddle_lite_x86" if x86.is_dir() else "paddle_inference (int8 program)"}
    out_dir = Path(out_dir) if out_dir else workdir / BUNDLE_DIR
    made = []
    toolchains = {"arm": arm_toolchain, "arm_fp16": arm_fp16_toolchain}
    for target_dir in sorted(p for p in converted.iterdir() if (p / NB_FILE).is_file()):
        checks, libraries = here, ()
        if target_dir.name == "arm_fp16":
            checks = {**here, "atol": ATOL["fp16"]}
        toolchain = toolchains.get(target_dir.name)
        if toolchain is not None:
            made_with = ARM_KERNELS_LABEL + (" (the Lite build with ARMv8.2 FP16 kernels)" if toolchain.fp16 else "")
            checks = {"atol": ATOL["arm_kernels"], "artifact": artifact, "made_with": made_with,
                      "samples": _arm_expected(chosen, classifier, target_dir / NB_FILE, toolchain)}
            libraries = toolchain.board_libraries
        made.append(_write_bundle(target_dir, out_dir / f"{artifact}-{target_dir.name}", checks, libraries))
    return made


def _write_bundle(target_dir: Path, dest: Path, checks: dict, libraries=()) -> Path:
    """Write into a temporary folder, then rename: a bundle that exists is complete."""
    tmp = temporary_name(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in (NB_FILE, VOCAB_FILE, META_FILE):
        shutil.copy(target_dir / name, tmp / name)
    shutil.copy(PREDICTOR, tmp / "predict.py")
    for name in DEPLOY_SCRIPTS:
        shutil.copy(DEVICE_DIR / name, tmp / name)
    if libraries:
        (tmp / "lib").mkdir()
        for library in libraries:
            shutil.copy(library, tmp / "lib" / Path(library).name)
    (tmp / SELFCHECK_FILE).write_text(json.dumps(checks, ensure_ascii=False, indent=1), encoding="utf-8")
    meta = json.loads((target_dir / META_FILE).read_text(encoding="utf-8"))
    needs = f"It needs {meta['min_cpu']}; predict.py refuses any other core.\n\n" if meta.get("min_cpu") else ""
    (tmp / "README.txt").write_text(
        f"ppliteformer bundle: {checks['artifact']} for {target_dir.name}.\n{needs}\n"
        "On the device (Python 3 with numpy and tokenizers; paddlelite where pip has it, else lib/ is used):\n"
        "  python3 predict.py --model . --selfcheck selfcheck.json    # labels and logits as made here\n"
        "  python3 predict.py --model . --text \"质量很好\"\n"
        "  python3 predict.py --model . --bench --threads 4\n\n"
        "From a workstation: run_on_board.py (ssh) or run_on_android.py (adb); see README.md.\n",
        encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
