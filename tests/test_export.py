"""emotion_lib.export and the portable copy: the copy scores as Keras does, and predict runs it without TensorFlow.

Offline and without FER-2013: the models are tiny, untrained models of this project's factory, a vgg_bn (with
its augmentation layers and FusedBatchNormalization, batch-norm statistics set away from the identity) and
tests/test_predict.py's 32 px scratch CNN (so the copy also resizes the 48 px faces inside it).  The
TensorFlow-free runs are subprocesses in which importing tensorflow, keras and the other training-side packages
raises ImportError.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from PIL import Image

from emotion_lib import EMOTIONS, export, faces, portable, predict
from emotion_lib.errors import UserError
from tests.test_faces import ASTRONAUT
from tests.test_predict import crops, make_model, run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]
PARITY = 1e-3
SHIFT = 3
# Everything a machine set up from requirements-portable.txt lacks that predict could plausibly reach for.
BLOCKED = ("tensorflow", "keras", "tf2onnx", "onnx", "sklearn", "matplotlib", "seaborn", "pandas", "dvc")
RUNNER = """
import atexit, importlib.abc, json, os, runpy, sys
BLOCKED, attempts, at_start = {blocked!r}, [], set(sys.modules)
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"No module named {{name!r}} (blocked by the test: a machine without it)")
sys.meta_path.insert(0, Block())
atexit.register(lambda: open(os.environ["IMPORTS_REPORT"], "w").write(
    json.dumps({{"modules": sorted(set(sys.modules) - at_start), "blocked_attempts": attempts}})))
sys.argv = ["emotion_lib.predict", *sys.argv[1:]]
runpy.run_module("emotion_lib.predict", run_name="__main__", alter_sys=True)
"""


def make_vgg_bn(path: Path, policy: str = "float32", seed: int = 1) -> Path:
    """A tiny vgg_bn of the study's factory, as trained models are: batch norm away from identity, sharp scores."""
    import keras

    from emotion_lib.architecture import Augmentation, VggBnSpec
    from emotion_lib.models import build_model, save_model
    from emotion_lib.precision import dtype_policy

    spec = VggBnSpec(widths=(4, 8), dense_units=8, dropout=0.3, augmentation=Augmentation(enabled=True, shift=0.1))
    with dtype_policy(policy):
        model = build_model(spec, num_classes=7, seed=seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shapes = [w.shape for w in layer.get_weights()]  # gamma, beta, moving mean, moving variance
            layer.set_weights([rng.uniform(0.8, 1.2, shapes[0]), rng.normal(0, 0.1, shapes[1]),
                               rng.normal(0, 0.1, shapes[2]), rng.uniform(0.5, 2.0, shapes[3])])
    classifier = model.get_layer("classifier")
    kernel, bias = classifier.get_weights()
    classifier.set_weights([kernel * 20.0, bias])  # untrained scores are all near 1/7; spread them
    save_model(model, path)
    return path


def export_to(model_path: Path, output: Path, **views) -> Path:
    views = {"test_time_flip": True, "test_time_shift": SHIFT, **views}
    export.export_copy(model_path, output, emotions=EMOTIONS, image_size=48, **views)
    return output


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Keras model and its copy (recording the flip and 3 px shifts), for a vgg_bn and a 32 px scratch CNN."""
    folder = tmp_path_factory.mktemp("export")
    built = {"vgg_bn": make_vgg_bn(folder / "tiny_bn.keras"), "scratch": make_model(folder / "tiny_scratch.keras")}
    return {name: (path, export_to(path, path.with_suffix(".onnx"))) for name, path in built.items()}


def write_crops(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    return folder


def run_without_tensorflow(tmp_path: Path, *args: str | Path) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m emotion_lib.predict ARGS`` where the BLOCKED packages cannot be imported; and what it imported."""
    runner = tmp_path / "run_blocked.py"
    runner.write_text(RUNNER.format(blocked=BLOCKED))
    report = tmp_path / "imports.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "IMPORTS_REPORT": str(report)}
    out = subprocess.run([sys.executable, str(runner), *map(str, args)], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    return out, json.loads(report.read_text()) if report.exists() else {}


def scores_of(records: list[dict], emotions=EMOTIONS) -> np.ndarray:
    return np.array([[face["scores"][e] for e in emotions] for r in records for face in r["faces"]])


# --------------------------------------------------------------------------- the copy scores as Keras does


@pytest.mark.parametrize("name", ["vgg_bn", "scratch"])
def test_the_copy_scores_every_view_as_keras_does(models, name):
    from emotion_lib.evaluation import predict_views
    from emotion_lib.models import load_model

    keras_path, copy_path = models[name]
    images = crops(12, seed=7)
    expected = predict_views(load_model(keras_path), images, flip=True, shift=SHIFT, progress=False)
    got = portable.load_copy(copy_path).predict_views(images, flip=True, shift=SHIFT)
    assert len(got) == len(expected) == 10
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=PARITY, rtol=0)
    # The test has teeth: the faces, and the views of one face, score differently.
    assert expected[0].std(axis=0).max() > 0.01 and np.abs(expected[0] - expected[1]).max() > 0.01


def test_a_mixed_precision_model_is_exported_in_float32(tmp_path):
    """A model trained in mixed_bfloat16 (train.precision: auto on a bfloat16 CPU) becomes a float32 copy."""
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import load_model

    mixed = make_vgg_bn(tmp_path / "mixed.keras", policy="mixed_bfloat16")
    same_in_float32 = make_vgg_bn(tmp_path / "float32.keras")  # same seed, so the same weights, computed in float32
    report = export.export_copy(mixed, tmp_path / "mixed.onnx", emotions=EMOTIONS, image_size=48,
                                test_time_flip=False, test_time_shift=0)
    assert report.precision == "mixed_bfloat16" and report.max_difference_trained_precision > PARITY
    images = crops(8, seed=3)
    np.testing.assert_allclose(portable.load_copy(tmp_path / "mixed.onnx").predict_probabilities(images),
                               predict_probabilities(load_model(same_in_float32), images, progress=False),
                               atol=PARITY, rtol=0)


def test_export_refuses_a_copy_that_scores_differently_and_writes_nothing(models, tmp_path, monkeypatch):
    from emotion_lib.models import load_model

    keras_path, _ = models["vgg_bn"]
    other = load_model(make_vgg_bn(tmp_path / "other.keras", seed=5), compile=False)
    real = export.to_onnx
    monkeypatch.setattr(export, "to_onnx", lambda model, image_size: real(other, image_size))
    with pytest.raises(UserError, match=r"the exported copy's scores differ from Keras' by .*nothing written"):
        export_to(keras_path, tmp_path / "wrong.onnx")
    assert not list(tmp_path.glob("*wrong*"))


# --------------------------------------------------------------------------- what the copy carries


def test_export_records_the_trials_evaluated_views_and_params_emotions(models, tmp_path):
    """models/<trial>.keras is exported with the views evaluate-<trial> used, as predict would score it."""
    from emotion_lib.config import load_config

    config = load_config(REPO_ROOT / "params.yaml")
    trial_model = tmp_path / "vgg_bn.keras"
    trial_model.write_bytes(models["vgg_bn"][0].read_bytes())
    export.main([str(trial_model)])
    info = portable.load_copy(tmp_path / "vgg_bn.onnx").info
    assert (info.test_time_flip, info.test_time_shift) == (config.test_time_flip("vgg_bn"),
                                                           config.test_time_shift("vgg_bn"))
    assert info.test_time_shift > 0 and info.test_time_flip  # the real params' vgg_bn: the views are on
    assert info.emotions == tuple(config.data.emotions) and info.image_size == config.data.image_size
    assert info.source == "vgg_bn.keras" and info.source_sha256 == hashlib.sha256(trial_model.read_bytes()).hexdigest()
    assert portable.load_copy(models["scratch"][1]).info.model_input == (32, 32, 1)


def test_predict_names_a_copys_outputs_by_its_own_emotions(tmp_path):
    three = ("angry", "happy", "sad")
    path = make_model(tmp_path / "three.keras", num_classes=3)
    export.export_copy(path, tmp_path / "three.onnx", emotions=three, image_size=48, test_time_flip=False,
                       test_time_shift=0)
    out, _ = run_without_tensorflow(tmp_path, ASTRONAUT, "--no-detect", "--model", tmp_path / "three.onnx")
    assert out.returncode == 0, out.stderr
    (record,) = map(json.loads, out.stdout.splitlines())
    assert list(record["faces"][0]["scores"]) == list(three)  # not params.yaml's seven
    assert "its emotions (angry, happy, sad) are not params.yaml's data.emotions" in out.stderr


# --------------------------------------------------------------------------- predict without TensorFlow


@pytest.fixture(scope="module")
def blocked_run(models, tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, np.ndarray, Path]:
    """predict on 11 crops and the astronaut photo with the vgg_bn copy, TensorFlow and Keras unimportable."""
    folder = tmp_path_factory.mktemp("blocked")
    images = crops(11, seed=1)
    write_crops(folder / "crops", images)
    out, imports = run_without_tensorflow(folder, folder / "crops", "--no-detect", "--model", models["vgg_bn"][1],
                                          "--output", folder / "crops.jsonl")
    return out, imports, images, folder


def test_predict_runs_a_copy_without_tensorflow_and_scores_as_keras(models, blocked_run, tmp_path):
    from emotion_lib.models import load_model

    out, imports, images, folder = blocked_run
    assert out.returncode == 0, out.stderr
    assert imports["blocked_attempts"] == [] and not {m.partition(".")[0] for m in imports["modules"]} & set(BLOCKED)
    assert f"test-time flip: on (recorded in {models['vgg_bn'][1]})" in out.stderr
    assert f"test-time shift: {SHIFT} px (recorded in" in out.stderr
    records = [json.loads(line) for line in (folder / "crops.jsonl").read_text().splitlines()]
    keras_model = load_model(models["vgg_bn"][0])
    expected = predict.score_crops(keras_model, images, batch_size=64, test_time_flip=True, test_time_shift=SHIFT)
    np.testing.assert_allclose(scores_of(records), expected, atol=PARITY, rtol=0)

    # With face detection, and the recorded views turned off from the command line.
    out, _ = run_without_tensorflow(tmp_path, ASTRONAUT, "--model", models["vgg_bn"][1], "--no-test-time-flip",
                                    "--test-time-shift", "0")
    assert out.returncode == 0, out.stderr
    (record,) = map(json.loads, out.stdout.splitlines())
    (_, keras_record, _), = predict.predict_files([predict.InputFile(ASTRONAUT, Path("astronaut.png"))], keras_model,
                                                   detector=faces.make_detector(), image_size=48, batch_size=8)
    assert [f["box"] for f in record["faces"]] == [f["box"] for f in keras_record.faces] and record["faces"]
    np.testing.assert_allclose(scores_of([record]), scores_of([keras_record.record()]), atol=PARITY, rtol=0)


def requirement_names(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of a requirements file's exact pins (environment markers ignored)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            name, version = line.split("==", 1)
            pins[normalise(name.split("[", 1)[0])] = version.strip()
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_requirements_portable_has_requirements_pins_and_all_that_predict_imports(models, tmp_path):
    portable_pins = requirement_names(REPO_ROOT / "requirements-portable.txt")
    full = requirement_names(REPO_ROOT / "requirements.txt")
    assert {name: full.get(name) for name in portable_pins} == portable_pins
    # What those pins install (their own requirements too), against the distributions the copy's run imported.
    installed, pending = set(), list(portable_pins)
    while pending:
        name = pending.pop()
        if name not in installed:
            installed.add(name)
            for text in metadata.requires(name) or []:
                requirement = Requirement(text)  # only what pip installs here: no extras, markers that hold
                if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                    pending.append(normalise(requirement.name))
    out, imports = run_without_tensorflow(tmp_path, ASTRONAUT, "--model", models["vgg_bn"][1], "--annotate",
                                          tmp_path / "annotated")  # detection and annotation: all of predict
    assert out.returncode == 0, out.stderr
    owners = metadata.packages_distributions()
    used = {normalise(dist) for module in imports["modules"] for dist in owners.get(module.partition(".")[0], [])}
    assert {"onnxruntime", "opencv-python-headless", "pillow"} <= used <= installed, sorted(used - installed)


def test_a_keras_model_on_a_machine_without_tensorflow_says_to_export_it(models, tmp_path):
    out, _ = run_without_tensorflow(tmp_path, ASTRONAUT, "--model", models["vgg_bn"][0])
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    (line,) = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert "needs TensorFlow and Keras" in line and "python -m emotion_lib.export" in line


def test_files_that_are_not_copies_are_refused_in_one_line(models, tmp_path):
    import onnx

    (tmp_path / "readme.onnx").write_text("not a model\n")
    with pytest.raises(UserError, match="readme.onnx is not an ONNX model"):
        predict.load_classifier(tmp_path / "readme.onnx")
    proto = onnx.load(models["vgg_bn"][1])
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "foreign.onnx")
    with pytest.raises(UserError, match="not a copy exported by this project"):
        predict.load_classifier(tmp_path / "foreign.onnx")
    info = json.loads(portable.load_copy(models["vgg_bn"][1]).info.to_json())
    proto.metadata_props.add(key=portable.METADATA_KEY, value=json.dumps({**info, "format_version": 99}))
    onnx.save(proto, tmp_path / "future.onnx")
    with pytest.raises(UserError, match="a copy of format 99"):
        predict.load_classifier(tmp_path / "future.onnx")
    out, _ = run_without_tensorflow(tmp_path, ASTRONAUT, "--model", tmp_path / "foreign.onnx")
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stdout == ""
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'foreign.onnx'}: an ONNX model, but not a copy exported by this project (no "
        f"'emotion_lib' metadata); {portable.EXPORT_HINT}"]


# --------------------------------------------------------------------------- the export command's errors


@pytest.mark.parametrize("args, message", [
    (["models/nothing.keras"], "model file models/nothing.keras does not exist"),
    (["README.md", "--output", "x.onnx"], "README.md is not a Keras model file"),
    (["models/vgg_bn.keras", "--output", "copy.txt"], "--output copy.txt: name the copy copy.onnx"),
    (["models/vgg_bn.keras", "--output", "nowhere/copy.onnx"], "folder nowhere does not exist"),
    (["copy.onnx"], "copy.onnx: already an exported copy"),
    (["models/vgg_bn.keras", "--test-time-shift", "13"], "expected a whole number of pixels from 0 to 12, got 13"),
])
def test_export_errors_are_one_line_with_exit_status_2(args, message, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    with pytest.raises(SystemExit) as exit_info:
        export.main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip().splitlines()[-1]]
    assert message in err


def test_the_export_command_runs_as_a_module(models, tmp_path):
    keras_path, _ = models["scratch"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "emotion_lib.export", str(keras_path), "--output",
                          str(tmp_path / "c.onnx"), "--no-test-time-flip"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "scores equal Keras' to" in out.stderr
    assert portable.load_copy(tmp_path / "c.onnx").info.test_time_flip is False
    assert run_cli(ASTRONAUT, "--model", tmp_path / "c.onnx").returncode == 0
