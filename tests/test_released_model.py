"""The released model as a fresh clone has it: the files its card and figures name, and predict's default on a
photo with neither TensorFlow nor Keras importable."""

from __future__ import annotations

import hashlib
import json

from tests.pipeline_utils import REPO_ROOT
from tests.test_export import run_without_tensorflow
from tests.test_faces import ASTRONAUT

RELEASE = REPO_ROOT / "release"
NAME = "vgg_bn-fer2013-v2"


def test_the_released_files_are_the_ones_the_card_names():
    figures = json.loads((RELEASE / f"{NAME}.json").read_text())
    card = (RELEASE / "MODEL_CARD.md").read_text()
    for file, digest in figures["sha256"].items():
        assert hashlib.sha256((RELEASE / file).read_bytes()).hexdigest() == digest, file
        assert f"| `{file}` | `{digest}` |" in card
    assert f"{figures['test']['accuracy']:.4f}" in card and f"{figures['temperature']:.3f}" in card
    assert figures["onnx_max_difference"] < 1e-3
    # The card states each member's own figures and the commands that trained them.
    for index, member in enumerate(figures["members"], start=1):
        assert f"| member {index} alone | {member['test_alone']['accuracy']:.4f} |" in card
        assert f"`{member['command']}`" in card


def test_a_fresh_clone_predicts_with_the_released_model_and_no_tensorflow(tmp_path):
    out, imported = run_without_tensorflow(tmp_path, ASTRONAUT)
    assert out.returncode == 0, out.stderr
    assert (f"model: release/{NAME}.onnx (an ensemble of 2 vgg_bn models trained on FER-2013's training images"
            in out.stderr)
    (record,) = [json.loads(line) for line in out.stdout.splitlines()]
    (face,) = record["faces"]
    assert abs(sum(face["scores"].values()) - 1) < 1e-4 and face["score"] > 0.7
    loaded = {name.split(".")[0] for name in imported["modules"]}
    assert not loaded & {"tensorflow", "keras"} and not imported["blocked_attempts"], imported["blocked_attempts"]
