"""The released model as a fresh clone has it: the files its card and figures name, and predict's default on a
photo with neither TensorFlow nor Keras importable, labelling it as the docs show."""

from __future__ import annotations

import hashlib
import json
import re

from emotion_lib import predict
from tests.pipeline_utils import REPO_ROOT
from tests.test_export import run_without_tensorflow
from tests.test_faces import ASTRONAUT

RELEASE = REPO_ROOT / "release"
NAME = predict.RELEASED_MODEL.stem


def _figures() -> dict:
    return json.loads((RELEASE / f"{NAME}.json").read_text())


def test_predict_defaults_to_a_committed_release():
    assert predict.RELEASED_MODEL.parent == RELEASE and predict.RELEASED_MODEL.suffix == ".onnx"
    assert predict.RELEASED_MODEL.is_file() and (RELEASE / f"{NAME}.keras").is_file()


def test_the_released_files_are_the_ones_the_card_names():
    figures = _figures()
    card = (RELEASE / "MODEL_CARD.md").read_text()
    for file, digest in figures["sha256"].items():
        assert hashlib.sha256((RELEASE / file).read_bytes()).hexdigest() == digest, file
        assert f"| `{file}` | `{digest}` |" in card
    assert figures["onnx_max_difference"] < 1e-3
    # Calibrated: the temperature lowered the calibration error and, views and all, moved no label.
    assert figures["test"]["ece"] < figures["test_before_temperature"]["ece"]
    assert figures["test"]["accuracy"] == figures["test_before_temperature"]["accuracy"]


def test_the_card_is_the_one_its_figures_write():
    """MODEL_CARD.md states what was measured and nothing else: it is exactly release.model_card(figures)."""
    from emotion_lib.release import model_card

    figures = _figures()
    card = (RELEASE / "MODEL_CARD.md").read_text()
    assert card == model_card(figures)
    for index, member in enumerate(figures["members"], start=1):
        assert f"`{member['command']}`" in card, index
    for png in (f"{NAME}-confusion.png", f"{NAME}-reliability.png"):
        assert f"({png})" in card and (RELEASE / png).is_file()


def _documented_astronaut() -> dict:
    """The astronaut's record in docs/predict.md (the README's example shows its label)."""
    docs = (REPO_ROOT / "docs" / "predict.md").read_text()
    (line,) = [line for line in docs.splitlines() if line.startswith('{"path": "astronaut.png"')]
    return json.loads(line)


def test_a_fresh_clone_predicts_with_the_released_model_and_no_tensorflow(tmp_path):
    out, imported = run_without_tensorflow(tmp_path, ASTRONAUT)
    assert out.returncode == 0, out.stderr
    members = len(_figures()["members"])
    what = "vgg_bn" if members == 1 else f"an ensemble of {members} vgg_bn models"
    assert f"model: release/{NAME}.onnx ({what} trained on FER-2013's training images" in out.stderr
    (record,) = [json.loads(line) for line in out.stdout.splitlines()]
    (face,) = record["faces"]
    assert abs(sum(face["scores"].values()) - 1) < 1e-4 and face["score"] > 0.7
    loaded = {name.split(".")[0] for name in imported["modules"]}
    assert not loaded & {"tensorflow", "keras"} and not imported["blocked_attempts"], imported["blocked_attempts"]
    # The documented example is this model's answer, and the README's picture is labelled with it.
    (documented,) = _documented_astronaut()["faces"]
    assert face["box"] == documented["box"] and face["emotion"] == documented["emotion"]
    for emotion, score in documented["scores"].items():
        assert abs(face["scores"][emotion] - score) < 1e-4, emotion
    label = f"{face['emotion']} {face['scores'][face['emotion']]:.2f}"
    readme = (REPO_ROOT / "README.md").read_text()
    assert re.search(rf"astronaut.*{re.escape(label)}", readme), f"README's astronaut example should say {label}"
