"""emotion_lib.predict: faces in real photos, the command line on messy folders, and predictions equal to evaluation's.

Offline and without FER-2013: the model is a small, untrained from-scratch CNN of this project
(``build_model``, same padding, 32 px input so the 48 px crops are resized on the way in), its
classifier weights scaled up so its probabilities differ clearly from image to image.  The CLI tests
run the real entry point, ``python -m emotion_lib.predict``, in a subprocess.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lib import EMOTIONS, faces, predict
from emotion_lib.errors import UserError
from tests.test_faces import ASTRONAUT, ASTRONAUT_FACE, COFFEE, SKIMAGE_DATA, iou, png_header_only

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_SIZE = 32


def make_model(path: Path, num_classes: int = 7, softmax: bool = True) -> Path:
    import keras

    from emotion_lib.architecture import ScratchSpec
    from emotion_lib.models import build_model

    model = build_model(ScratchSpec(image_size=MODEL_SIZE, channels=1, padding="same"), num_classes=num_classes,
                        seed=3)
    classifier = model.get_layer("classifier")
    kernel, bias = classifier.get_weights()
    # Untrained softmax outputs are all close to 1/7; sharpen them so a wrong input path would show.
    classifier.set_weights([kernel * 40.0, bias])
    if not softmax:
        classifier.activation = keras.activations.linear
        model = keras.Model(model.inputs[0], classifier.output)  # one input, not a list: as saved models take it
    model.save(path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "tiny.keras")


def run_cli(*args: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "emotion_lib.predict", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def crops(n: int, seed: int = 0) -> np.ndarray:
    """FER-style 48x48 uint8 crops: smooth random blobs, so resizing them is not trivial."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 12, 12), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(s).resize((48, 48), Image.Resampling.BICUBIC)) for s in small])


# --------------------------------------------------------------------------- real photographs, in process


def test_astronaut_one_face_seven_scores_and_no_face_in_the_coffee_cup(model_path):
    model = predict.load_classifier(model_path)
    files = [predict.InputFile(ASTRONAUT, Path("astronaut.png")), predict.InputFile(COFFEE, Path("coffee.png"))]
    results = [r for _, r, _ in predict.predict_files(files, model, detector=faces.make_detector(), image_size=48,
                                                      batch_size=8)]
    astronaut, coffee = results
    assert astronaut.error is None and len(astronaut.faces) == 1
    face = astronaut.faces[0]
    assert iou(tuple(face["box"]), ASTRONAUT_FACE) > 0.7
    assert faces.YUNET_MIN_SCORE <= face["score"] <= 1  # YuNet's score, so a user can filter faces
    assert list(face["scores"]) == list(EMOTIONS)
    assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert face["emotion"] == max(face["scores"], key=face["scores"].get)
    assert coffee.record() == {"path": str(COFFEE), "faces": [], "error": None}


def test_a_model_must_match_data_emotions(tmp_path):
    path = make_model(tmp_path / "three.keras", num_classes=3)
    with pytest.raises(UserError, match="predicts 3 classes"):
        predict.load_classifier(path)
    # A study run with data.emotions: [angry, happy, sad] trains 3-class models; predict names their outputs so.
    model = predict.load_classifier(path, ("angry", "happy", "sad"))
    files = [predict.InputFile(ASTRONAUT, Path("astronaut.png"))]
    (_, result, _), = predict.predict_files(files, model, detector=None, image_size=48, batch_size=4,
                                            emotions=("angry", "happy", "sad"))
    assert list(result.faces[0]["scores"]) == ["angry", "happy", "sad"]


def test_default_model_is_the_release_else_the_best_trial_of_the_committed_summary(tmp_path):
    summary = json.loads((REPO_ROOT / "metrics" / "summary.json").read_text())
    released = tmp_path / "release" / "vgg_bn-fer2013-v1.onnx"
    path, message = predict.default_model(released=released)  # a checkout without the release
    assert path.name == f"{summary['best_trial']}.keras" and summary["best_trial"] in message
    released.parent.mkdir()
    released.write_bytes(b"a copy")
    path, message = predict.default_model(released=released)
    assert path == released and "(a model trained on FER-2013's training images" in message
    assert "MODEL_CARD.md" in message
    # What the release is comes from its figures: one trial's model, or an ensemble of several.
    released.with_suffix(".json").write_text(json.dumps({"trial": "vgg_bn", "members": [{}, {}]}))
    assert "(an ensemble of 2 vgg_bn models trained on FER-2013" in predict.default_model(released=released)[1]
    released.with_suffix(".json").write_text(json.dumps({"trial": "vgg_bn", "members": [{}]}))
    assert "(vgg_bn trained on FER-2013" in predict.default_model(released=released)[1]
    with pytest.raises(UserError, match="missing"):
        predict.default_model(tmp_path / "summary.json", tmp_path, released=tmp_path / "none.onnx")
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(UserError, match="best_trial"):
        predict.default_model(tmp_path / "summary.json", tmp_path, released=tmp_path / "none.onnx")


def test_extensions_come_from_params_with_a_fallback(tmp_path):
    settings = predict.project_settings()
    assert settings.extensions == {".jpeg", ".jpg", ".png"} and settings.image_size == 48 and settings.note is None
    assert settings.emotions == EMOTIONS
    (tmp_path / "params.yaml").write_text("data: [unreadable\n")
    settings = predict.project_settings(tmp_path / "params.yaml")
    assert settings.extensions == {".jpeg", ".jpg", ".png"} and settings.image_size == 48
    assert settings.emotions == EMOTIONS and "params.yaml" in settings.note


def test_batches_pool_faces_across_images_and_keep_the_order(model_path, tmp_path, monkeypatch):
    model = predict.load_classifier(model_path)
    files = []
    for i, crop in enumerate(crops(7)):
        Image.fromarray(crop).save(tmp_path / f"{i}.png")
        files.append(predict.InputFile(tmp_path / f"{i}.png", Path(f"{i}.png")))
    files.insert(3, predict.InputFile(tmp_path / "missing.png", Path("missing.png")))
    calls = []
    real = predict._score
    monkeypatch.setattr(predict, "_score", lambda m, pending, *rest: (calls.append(sum(len(p.boxes) for p in pending)),
                                                                      real(m, pending, *rest)))
    results = [r for _, r, _ in predict.predict_files(files, model, detector=None, image_size=48, batch_size=2,
                                                      faces_per_call=3, max_wait=float("inf"))]
    assert [Path(r.path).name for r in results] == [f.path.name for f in files]
    assert results[3].error == "does not exist" and all(len(r.faces) == 1 for r in results if r is not results[3])
    # Three faces fill a call; then three images (one unreadable) also flush, bounding what waits; then the rest.
    assert calls == [3, 2, 2]


def test_test_time_flip_follows_the_trials_evaluation_unless_told():
    settings = predict.project_settings()  # the real params: only vgg_bn is evaluated with test-time flip
    assert settings.test_time_flip["vgg_bn"] and not settings.test_time_flip["baseline"]
    assert predict.use_test_time_flip(None, Path("models/vgg_bn.keras"), settings) == (
        True, "evaluate.vgg_bn.test_time_flip")
    assert predict.use_test_time_flip(None, Path("models/baseline.keras"), settings)[0] is False
    assert predict.use_test_time_flip(None, Path("elsewhere/tiny.keras"), settings)[0] is False
    assert predict.use_test_time_flip(False, Path("models/vgg_bn.keras"), settings) == (False, "--no-test-time-flip")
    assert predict.use_test_time_flip(True, Path("elsewhere/tiny.keras"), settings) == (True, "--test-time-flip")
    shift = settings.test_time_shift["vgg_bn"]
    assert shift > 0 and settings.test_time_shift["baseline"] == 0
    assert predict.use_test_time_shift(None, Path("models/vgg_bn.keras"), settings) == (
        shift, "evaluate.vgg_bn.test_time_shift")
    assert predict.use_test_time_shift(None, Path("elsewhere/tiny.keras"), settings)[0] == 0
    assert predict.use_test_time_shift(0, Path("models/vgg_bn.keras"), settings) == (0, "--test-time-shift")


def test_a_released_keras_model_is_scored_with_the_views_its_figures_record(tmp_path):
    """release/<name>.keras is no trial's file: its views come from the release figures beside it, so it scores the
    card's figures as its ONNX copy does; a stray JSON that is no release's figures changes nothing."""
    settings = predict.project_settings()
    model = tmp_path / "faces-v9.keras"
    figures = {"sha256": {"faces-v9.keras": "..."}, "test_time_flip": True, "test_time_shift": 2}
    (tmp_path / "faces-v9.json").write_text(json.dumps(figures))
    assert predict.use_test_time_flip(None, model, settings) == (True, f"recorded in {tmp_path / 'faces-v9.json'}")
    assert predict.use_test_time_shift(None, model, settings)[0] == 2
    assert predict.use_test_time_shift(1, model, settings) == (1, "--test-time-shift")
    # Figures of another file, or values of the wrong kind, are not this model's views.
    (tmp_path / "faces-v9.json").write_text(json.dumps({**figures, "sha256": {"other.keras": "..."}}))
    assert predict.use_test_time_flip(None, model, settings)[0] is False
    (tmp_path / "faces-v9.json").write_text(json.dumps({**figures, "test_time_flip": "yes", "test_time_shift": 2.5}))
    assert predict.use_test_time_flip(None, model, settings)[0] is False
    assert predict.use_test_time_shift(None, model, settings)[0] == 0
    (tmp_path / "faces-v9.json").write_text("[1, 2]")
    assert predict.use_test_time_flip(None, model, settings)[0] is False
    (tmp_path / "faces-v9.json").write_text("not json")
    assert predict.use_test_time_shift(None, model, settings)[0] == 0
    released = predict.RELEASED_MODEL.with_suffix(".keras")
    figures = json.loads(predict.RELEASED_MODEL.with_suffix(".json").read_text())
    assert predict.use_test_time_shift(None, released, settings)[0] == figures["test_time_shift"] > 0


def test_test_time_flip_scores_each_face_joined_with_its_mirror(model_path, tmp_path):
    from emotion_lib.evaluation import predict_probabilities

    model = predict.load_classifier(model_path)
    images = crops(5, seed=2)
    files = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        files.append(predict.InputFile(tmp_path / f"{i}.png", Path(f"{i}.png")))

    def scores(flip: bool, shift: int = 0) -> np.ndarray:
        results = [r for _, r, _ in predict.predict_files(files, model, detector=None, image_size=48, batch_size=2,
                                                          test_time_flip=flip, test_time_shift=shift)]
        return np.array([[r.faces[0]["scores"][e] for e in EMOTIONS] for r in results])

    plain, mirrored = predict_probabilities(model, images), predict_probabilities(model, images[:, :, ::-1].copy())
    geometric = np.sqrt(plain * mirrored)  # the softmax of the two passes' mean logits
    np.testing.assert_allclose(scores(True), geometric / geometric.sum(axis=1, keepdims=True), atol=1e-6, rtol=0)
    np.testing.assert_allclose(scores(False), plain, atol=1e-6, rtol=0)
    assert np.abs(plain - mirrored).max() > 0.01  # the mirror images score differently, so the check has teeth
    # With shifts too, predict scores a face as evaluation scores a test image.
    np.testing.assert_allclose(scores(True, shift=3), predict_probabilities(model, images, test_time_flip=True,
                                                                            test_time_shift=3), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- the command line


@pytest.fixture()
def messy_folder(tmp_path) -> Path:
    """Good photos and crops, broken files and non-images, in nested folders, as users' folders are."""
    root = tmp_path / "photos"
    (root / "trip" / "day1").mkdir(parents=True)
    shutil.copy(ASTRONAUT, root / "trip" / "astronaut.png")
    Image.open(COFFEE).convert("RGB").save(root / "trip" / "day1" / "coffee.jpg", quality=90)
    Image.fromarray(crops(1)[0]).save(root / "crop.png")
    Image.fromarray(crops(1, seed=5)[0].astype(np.uint16) * 257).save(root / "deep16.png")
    Image.open(ASTRONAUT).convert("CMYK").save(root / "cmyk.jpg")
    good = (root / "trip" / "day1" / "coffee.jpg").read_bytes()
    (root / "trip" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "zero.png").write_bytes(b"")
    (root / "fake.png").write_text("this is a text file with an image name\n")
    png_header_only(root / "bomb.png", 20000, 20000)
    (root / "notes.txt").write_text("not an image\n")
    (root / "Thumbs.db").write_bytes(b"\0" * 64)
    return root


GOOD = {"trip/astronaut.png": 1, "trip/day1/coffee.jpg": 0, "crop.png": 0, "deep16.png": 0, "cmyk.jpg": 1}
BAD = {"trip/truncated.jpg": "truncated", "zero.png": "empty file", "fake.png": "not an image file",
       "bomb.png": "decompression bomb"}


def test_cli_on_a_messy_folder_records_every_file_and_exits_1(model_path, messy_folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "nowhere.jpg"
    out = run_cli(messy_folder, empty, missing, messy_folder / "notes.txt", "--model", model_path,
                  "--annotate", tmp_path / "annotated")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    records = {r["path"]: r for r in map(json.loads, out.stdout.splitlines())}
    expected = {str(messy_folder / name) for name in [*GOOD, *BAD]} | {str(missing), str(messy_folder / "notes.txt")}
    assert set(records) == expected
    for name, n_faces in GOOD.items():
        record = records[str(messy_folder / name)]
        assert record["error"] is None and len(record["faces"]) == n_faces, record
        for face in record["faces"]:
            assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-5)
            assert faces.YUNET_MIN_SCORE <= face["score"] <= 1
    assert "faces: YuNet (face_detection_yunet_2023mar.onnx), score at least 0.7" in out.stderr
    for name, reason in {**BAD, "nowhere.jpg": "does not exist", "notes.txt": "not an image"}.items():
        path = next(p for p in records if p.endswith(name))
        assert records[path]["faces"] == [] and reason in records[path]["error"]
        assert f"error: {path}: " in out.stderr
    assert f"error: {empty}: no image files" in out.stderr
    assert "skipped 2 files" in out.stderr  # notes.txt and Thumbs.db inside the folder
    assert iou(tuple(records[str(messy_folder / "trip/astronaut.png")]["faces"][0]["box"]), ASTRONAUT_FACE) > 0.7
    annotated = sorted(p.relative_to(tmp_path / "annotated").as_posix() for p in (tmp_path / "annotated").rglob("*"))
    assert "trip/astronaut.png" in annotated and "trip/day1/coffee.png" in annotated and "zero.png" not in annotated
    assert Image.open(tmp_path / "annotated" / "trip" / "astronaut.png").size == (512, 512)


def test_cli_csv_has_one_row_per_face_and_one_per_faceless_or_broken_image(model_path, messy_folder, tmp_path):
    out = run_cli(messy_folder, "--model", model_path, "--output", tmp_path / "out.csv", "--batch-size", "2")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(rows[0]) == ["path", "face", "x", "y", "w", "h", "score", "emotion", *EMOTIONS, "error"]
    by_path: dict[str, list[dict]] = {}
    for row in rows:
        by_path.setdefault(row["path"], []).append(row)
    assert set(by_path) == {str(messy_folder / name) for name in [*GOOD, *BAD]}
    astronaut = by_path[str(messy_folder / "trip/astronaut.png")]
    assert len(astronaut) == 1 and astronaut[0]["face"] == "0" and astronaut[0]["error"] == ""
    assert sum(float(astronaut[0][e]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-5)
    assert astronaut[0]["emotion"] in EMOTIONS
    assert faces.YUNET_MIN_SCORE <= float(astronaut[0]["score"]) <= 1
    for name in ("trip/day1/coffee.jpg", *BAD):
        (row,) = by_path[str(messy_folder / name)]
        assert row["face"] == row["x"] == row["score"] == row["emotion"] == row["angry"] == ""
        assert (row["error"] != "") == (name in BAD)


def test_cli_no_detect_predictions_equal_the_evaluation_path(model_path, tmp_path):
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import load_model

    images = crops(11, seed=1)
    folder = tmp_path / "crops"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
    out = run_cli(folder, "--no-detect", "--model", model_path, "--output", tmp_path / "p.jsonl", "--batch-size", "4",
                  "--test-time-flip")
    assert out.returncode == 0, out.stderr
    assert "predict: 11/11 images" in out.stderr  # the progress line, for more than a handful of images
    assert "predicting" not in out.stderr  # and not evaluation's per-view lines besides it
    assert "test-time flip: on (--test-time-flip)" in out.stderr
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).name for r in records] == [f"{i:02d}.png" for i in range(11)]
    got = np.array([[r["faces"][0]["scores"][e] for e in EMOTIONS] for r in records])
    assert all(r["faces"][0]["box"] == [0, 0, 48, 48] and r["faces"][0]["score"] is None for r in records)
    assert "faces: no detector (--no-detect)" in out.stderr
    expected = predict_probabilities(load_model(model_path), images, test_time_flip=True)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    assert np.abs(expected - predict_probabilities(load_model(model_path), images)).max() > 0.01
    assert expected.std(axis=0).max() > 0.01  # the model's outputs do depend on the image


@pytest.mark.parametrize("args, message", [
    (["--model", "README.md"], "README.md is not a Keras model file"),
    (["--model", "models/nothing.keras"], "models/nothing.keras does not exist"),
    (["--model", "models"], "model file models is a folder, not a file"),
    (["--output", "metrics"], "--output metrics: is a folder"),
    (["--output", "out.txt"], "--output out.txt: unknown format"),
    (["--batch-size", "0"], "expected a positive integer, got 0"),
    (["--batch-size", "two"], "expected a positive integer, got 'two'"),
    (["--test-time-shift", "13"], "expected a whole number of pixels from 0 to 12, got 13"),
    (["--test-time-shift", "-1"], "expected a whole number of pixels from 0 to 12, got -1"),
    (["--test-time-shift", "1.5"], "expected a whole number of pixels from 0 to 12, got '1.5'"),
    (["--detector", "dlib"], "invalid choice: 'dlib'"),
    (["--min-score", "5"], "--min-score 5: YuNet's scores run from 0 to 1"),
    (["--min-score", "-0.5"], "expected a number of at least 0, got -0.5"),
    (["--min-score", "high"], "expected a number such as 0.7, got 'high'"),
    (["--no-detect", "--detector", "haar"], "--detector with --no-detect"),
    (["--no-detect", "--min-score", "0.5"], "--min-score with --no-detect"),
])
def test_cli_usage_and_model_errors_exit_2_in_one_line(args, message):
    out = run_cli(ASTRONAUT, *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    # One line of ours (TensorFlow's own two start-up lines may precede it), not argparse's usage block.
    ours = [line for line in out.stderr.splitlines() if line.startswith(("error:", "usage:"))]
    assert len(ours) == 1 and ours[0].startswith("error:"), out.stderr


def test_a_model_without_softmax_is_refused_before_any_prediction(tmp_path):
    path = make_model(tmp_path / "logits.keras", softmax=False)
    with pytest.raises(UserError, match="logits.keras: the model's outputs are not probabilities.*softmax"):
        predict.load_classifier(path)
    out = run_cli(ASTRONAUT, "--model", path, "--output", tmp_path / "p.jsonl")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "not probabilities" in out.stderr and not (tmp_path / "p.jsonl").exists()


def test_cli_detector_haar_and_min_score_filter_the_faces(model_path, tmp_path):
    """--detector haar still works (its score is the neighbour count), and --min-score keeps what scores enough."""
    coins = SKIMAGE_DATA / "coins.png"
    found = faces.make_detector("haar").detect(faces.to_gray(faces.read_image(coins)[0]))
    middle = sorted(face.score for face in found)[len(found) // 2]  # so some coins are dropped and some kept
    kept = [list(face.box) for face in found if face.score >= middle]
    assert 0 < len(kept) < len(found)
    out = run_cli(ASTRONAUT, coins, "--model", model_path, "--detector", "haar", "--min-score", str(middle),
                  "--output", tmp_path / "haar.csv")
    assert out.returncode == 0, out.stderr
    assert f"faces: Haar cascade (haarcascade_frontalface_default.xml), at least {middle} neighbours" in out.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "haar.csv").read_text())))
    astronaut = [row for row in rows if row["path"] == str(ASTRONAUT)]
    assert len(astronaut) == 1 and int(astronaut[0]["score"]) >= middle
    assert iou(tuple(int(astronaut[0][k]) for k in "xywh"), ASTRONAUT_FACE) > 0.7
    coin_rows = [row for row in rows if row["path"] == str(coins)]
    assert [[int(row[k]) for k in "xywh"] for row in coin_rows] == kept
    assert all(int(row["score"]) >= middle for row in coin_rows)
