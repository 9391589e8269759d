"""Predict the emotions of the faces in any photo, with any trained trial of the study.

Usage::

    python -m emotion_lib.predict IMAGE_OR_FOLDER... [--model models/<trial>.keras|COPY.onnx]
                                  [--output FILE.jsonl|FILE.csv] [--annotate DIR] [--detector yunet|haar]
                                  [--min-score S] [--no-detect] [--batch-size N] [--[no-]test-time-flip]
                                  [--test-time-shift PIXELS]

Folders are walked recursively for the image extensions ``prepare`` accepts
(``data.extensions`` in params.yaml).  Each image is read by
:func:`emotion_lib.faces.read_image`, its faces are found by YuNet (or
OpenCV's Haar cascade, ``--detector haar``; or, with ``--no-detect``, the whole
image is one pre-cropped face), each face is cut out as FER-2013 frames its
faces and normalised by ``prepare.normalise_image`` and the
crops of many images are scored together, in batches, through
:func:`emotion_lib.evaluation.predict_probabilities`: the input path of
training and evaluation.  With ``--model COPY.onnx``, a copy written by ``python -m emotion_lib.export``,
the same crops are scored by onnxruntime (:mod:`emotion_lib.portable`) and neither TensorFlow nor Keras is
imported; the copy brings its emotions, face size and evaluated test-time views.

Output: one JSON object per image (JSON Lines, stdout by default), or with
``--output FILE.csv`` one row per face; each face has its box, its detector
``score`` (null with ``--no-detect``) and its emotion scores.  Exit status:
0 every image was read; 1 some input could not be read (an error record, or a
path or folder without images); 2 a usage or model error before any prediction.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from emotion_lib import EMOTIONS, faces, portable
from emotion_lib.cli import Parser, run_stage
from emotion_lib.config import MAX_TEST_TIME_SHIFT
from emotion_lib.errors import UserError, why_not_a_file

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_BROKEN_PIPE = 141
REPO_ROOT = Path(__file__).resolve().parents[1]
# Defaults live in the repository, wherever the command is run from; paths given by the user are relative to cwd.
PARAMS_FILE = REPO_ROOT / "params.yaml"
SUMMARY_FILE = REPO_ROOT / "metrics" / "summary.json"
MODELS_DIR = REPO_ROOT / "models"
# The released model (emotion_lib.release; its card is release/MODEL_CARD.md): its portable copy, which starts in a
# fraction of a second and needs no TensorFlow. Without it (a checkout before the release), the best trial's model.
RELEASED_MODEL = REPO_ROOT / "release" / "vgg_bn-fer2013-v5.onnx"
FALLBACK_EXTENSIONS: tuple[str, ...] = ("jpeg", "jpg", "png")
FALLBACK_IMAGE_SIZE = 48
PROGRESS_MIN_IMAGES = 10
BATCHES_PER_CALL = 8
"""Model batches scored per call: each call builds a tf.data pipeline, which at one batch per call halved speed."""
MAX_WAIT_SECONDS = 2.0
MAX_HELD_BYTES = 256 * 2**20
"""Decoded photos held for annotation while their faces wait for a batch (a dozen 12-megapixel photos)."""
CSV_FACE_COLUMNS: tuple[str, ...] = ("face", "x", "y", "w", "h", "score", "emotion")


@dataclass(frozen=True)
class Settings:
    """What predict takes from params.yaml: which files are images, the stored face size, the class names."""

    extensions: frozenset[str]
    image_size: int
    emotions: tuple[str, ...]
    """Names of the model's outputs, in order: ``data.emotions``, the label order ``prepare`` wrote."""
    note: str | None = None
    test_time_flip: dict[str, bool] = field(default_factory=dict)
    """``evaluate.<trial>.test_time_flip``: per trial, whether its evaluation averages each face with its mirror."""
    test_time_shift: dict[str, int] = field(default_factory=dict)
    """``evaluate.<trial>.test_time_shift``: per trial, the pixels its evaluation also shifts each face by (0: none)."""


@dataclass
class InputFile:
    """One file to predict on: where it is, how the output names it, and its annotation's relative name."""

    path: Path
    annotate_name: Path


@dataclass
class ImageResult:
    """The prediction record of one image (``error`` set when it could not be read)."""

    path: str
    faces: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def record(self) -> dict[str, Any]:
        """The JSON object written for this image."""
        return {"path": self.path, "faces": self.faces, "error": self.error}


# --------------------------------------------------------------------------- settings and inputs


def project_settings(params_path: Path = PARAMS_FILE) -> Settings:
    """The image extensions, stored face size and emotion order of the project's params, or their defaults.

    The ``note`` says why params.yaml could not be used, if it could not.
    """
    from emotion_lib.config import load_config

    flips: dict[str, bool] = {}
    shifts: dict[str, int] = {}
    try:
        config = load_config(params_path)
        data = config.data
        flips = {trial: config.test_time_flip(trial) for trial in config.trials}
        shifts = {trial: config.test_time_shift(trial) for trial in config.trials}
        extensions, image_size, emotions, note = data.extensions, data.image_size, tuple(data.emotions), None
    except (UserError, OSError) as error:
        # predict must work on a copy of the code without a valid params.yaml: use prepare's defaults.
        extensions, image_size, emotions = FALLBACK_EXTENSIONS, FALLBACK_IMAGE_SIZE, EMOTIONS
        note = (f"{error}; reading {', '.join('.' + e for e in extensions)} files, faces at {image_size} px, "
                f"one view per face unless --test-time-flip / --test-time-shift say otherwise")
    exts = frozenset("." + e.strip().lstrip(".").lower() for e in extensions)
    return Settings(exts, int(image_size), emotions, note, flips, shifts)


def use_test_time_flip(requested: bool | None, model_path: Path, settings: Settings,
                       copy: portable.CopyInfo | None = None) -> tuple[bool, str]:
    """Whether to average each face with its mirror image, and why.

    ``--test-time-flip`` / ``--no-test-time-flip`` decide; without either, a
    trial's model (``models/<trial>.keras``) is scored as ``evaluate-<trial>``
    scores it (``evaluate.<trial>.test_time_flip``), so predict reproduces the
    evaluated figures; an exported ``copy`` as it records (what its trial was
    evaluated with, when exported); a released Keras model as the figures
    beside it (``release/<name>.json``) record; any other model without flipping.
    """
    if requested is not None:
        return requested, "--test-time-flip" if requested else "--no-test-time-flip"
    if copy is not None:
        return copy.test_time_flip, f"recorded in {model_path}"
    flip, why = _as_evaluated(model_path, settings.test_time_flip, "test_time_flip", False)
    return bool(flip), why


def use_test_time_shift(requested: int | None, model_path: Path, settings: Settings,
                        copy: portable.CopyInfo | None = None) -> tuple[int, str]:
    """How many pixels to also shift each face by (0: no shifted views), and why; as :func:`use_test_time_flip`."""
    if requested is not None:
        return requested, "--test-time-shift"
    if copy is not None:
        return copy.test_time_shift, f"recorded in {model_path}"
    shift, why = _as_evaluated(model_path, settings.test_time_shift, "test_time_shift", 0)
    return int(shift), why


def _as_evaluated(model_path: Path, per_trial: Mapping[str, Any], key: str, default: Any) -> tuple[Any, str]:
    """``evaluate.<trial>.<key>`` for a trial's model (``models/<trial>.keras``); for a released model, the value
    its figures (``<name>.json`` beside it, written by :mod:`emotion_lib.release`) record; else ``default``; and
    why."""
    trial = Path(model_path).stem
    if trial in per_trial:
        return per_trial[trial], f"evaluate.{trial}.{key}"
    figures_path = Path(model_path).with_suffix(".json")
    try:
        figures = json.loads(figures_path.read_text())
    except (OSError, ValueError):
        figures = None
    # Only a release's own figures count: they hash this very file.
    if isinstance(figures, dict) and Path(model_path).name in (figures.get("sha256") or {}):
        value = figures.get(key)
        valid = (isinstance(value, bool) if key == "test_time_flip"
                 else isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TEST_TIME_SHIFT)
        if valid:
            return value, f"recorded in {_shown(figures_path)}"
    return default, "not a trial of params.yaml"


def collect_inputs(paths: Sequence[str], extensions: frozenset[str],
                   exclude: Path | None = None) -> tuple[list[InputFile], list[str]]:
    """The files to predict on, in command-line order, and one problem message per unusable argument.

    A file argument is always tried, whatever its extension (its record says if it is not an image); a
    folder contributes its image files; a missing path becomes a file whose record says it does not exist.
    """
    files: list[InputFile] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for arg in paths:
        root = Path(arg)
        if not root.is_dir():
            found = [(root, Path(root.name or "image"))]
        else:
            images, skipped = faces.find_image_files(root, extensions)
            if exclude is not None:
                images = [p for p in images if not p.resolve().is_relative_to(exclude)]
            if not images:
                problems.append(f"{root}: no image files ({', '.join(sorted(extensions))}) in this folder"
                                + (f"; {len(skipped)} other files skipped" if skipped else ""))
                continue
            if skipped:
                print(f"note: {root}: skipped {len(skipped)} files that are not "
                      f"{'/'.join(sorted(extensions))} images", file=sys.stderr)
            found = [(p, p.relative_to(root)) for p in images]
        for path, name in found:
            key = path.resolve()
            if key not in seen:  # The same photo given twice (a file and its folder) is predicted once.
                seen.add(key)
                files.append(InputFile(path, name))
    return files, problems


def default_model(summary_path: Path = SUMMARY_FILE, models_dir: Path = MODELS_DIR,
                  released: Path = RELEASED_MODEL) -> tuple[Path, str]:
    """The released model if the repository holds it, else the best trial's model named by the committed summary;
    and a line saying which it is."""
    if released.is_file():
        card = released.parent / "MODEL_CARD.md"
        return released, (f"model: {_shown(released)} ({_released_what(released)} trained on FER-2013's training "
                          f"images, calibrated; model card: {_shown(card)})")
    fix = "run `dvc repro summary` or pass --model models/<trial>.keras"
    try:
        summary = json.loads(summary_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{summary_path}: missing, so there is no best trial to default to; {fix}") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{summary_path}: unreadable ({error}); {fix}") from None
    best = summary.get("best_trial") if isinstance(summary, dict) else None
    if not isinstance(best, str) or not best:
        raise UserError(f"{summary_path}: names no best_trial; {fix}")
    accuracy = summary.get("best_accuracy")
    score = f", test accuracy {accuracy:.3f}" if isinstance(accuracy, (int, float)) else ""
    path = Path(_shown(models_dir / f"{best}.keras"))
    return path, f"model: {_shown(path)} (best trial {best!r} of {_shown(summary_path)}{score})"


def _released_what(released: Path) -> str:
    """What the release is, from the figures beside it: "vgg_bn", or "an ensemble of 2 vgg_bn models"."""
    try:
        figures = json.loads(released.with_suffix(".json").read_text())
        trial, members = str(figures["trial"]), len(figures.get("members", [None]))
    except (OSError, ValueError, KeyError, TypeError):
        return "a model"
    return trial if members == 1 else f"an ensemble of {members} {trial} models"


def _shown(path: Path) -> str:
    """A repository path relative to the current folder when possible, for readable messages."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def load_classifier(path: Path, emotions: Sequence[str] = EMOTIONS, trial_hint: str = "") -> Any:
    """Load a project model and check it outputs one probability per emotion of ``emotions``.

    A ``.onnx`` file is an exported copy (:func:`emotion_lib.portable.load_copy`), checked against its own
    emotions, which it carries; anything else is a Keras model, loaded with TensorFlow.
    """
    remedy = (f"run `dvc repro train-{trial_hint}` (or `dvc pull`), or pass --model models/<trial>.keras"
              if trial_hint else "pass --model models/<trial>.keras, a model trained by this project")
    if not path.is_file():  # Said before TensorFlow's few seconds of start-up.
        raise UserError(f"model file {path} {why_not_a_file(path)}; {remedy}")
    if portable.is_copy_path(path):
        return portable.load_copy(path)
    try:
        from emotion_lib.inputs import input_geometry
        from emotion_lib.models import load_model
    except ImportError as error:  # A machine set up for exported copies only (requirements-portable.txt).
        raise UserError(f"{path}: a Keras model needs TensorFlow and Keras, which cannot be imported here "
                        f"({error}); install requirements.txt, or run a copy exported elsewhere with "
                        f"`python -m emotion_lib.export {path}` (--model {path.with_suffix('.onnx')})") from None

    # load_model also refuses a model whose outputs are not probabilities (a softmax).
    model = load_model(path, compile=False, remedy=remedy)
    input_geometry(model, f"model {path}")  # A UserError if the model does not take one square image.
    outputs = model.output_shape[-1] if isinstance(model.output_shape, tuple) else None
    if outputs != len(emotions):
        raise UserError(f"{path}: the model predicts {outputs} classes, not the {len(emotions)} emotions of "
                        f"data.emotions ({', '.join(emotions)}); pass a model trained with the current data.emotions")
    return model


# --------------------------------------------------------------------------- prediction


@dataclass
class _Pending:
    """An image read and cut into face crops, waiting for its batch to be scored."""

    result: ImageResult
    boxes: list[faces.Box]
    crops: np.ndarray
    image: np.ndarray | None
    scores: list[float | None] = field(default_factory=list)
    """Each box's detector score (None without a detector)."""


def _prepare_one(item: InputFile, detector: faces.FaceDetector | None, image_size: int,
                 keep_image: bool) -> _Pending:
    """Read one file, find its faces (or take the whole image) and cut them out as stored-form crops."""
    image, error = faces.read_image(item.path)
    result = ImageResult(str(item.path), error=error)
    if image is None:
        return _Pending(result, [], np.zeros((0, image_size, image_size), np.uint8), None)
    gray = faces.to_gray(image)
    found = detector.detect(gray) if detector is not None else [faces.whole_image_face(gray)]
    crops = faces.face_crops(gray, [face.crop for face in found], image_size)
    return _Pending(result, [face.box for face in found], crops, image if keep_image else None,
                    [face.score for face in found])


def _score(model: Any, pending: list[_Pending], batch_size: int, emotions: Sequence[str],
           test_time_flip: bool = False, test_time_shift: int = 0) -> None:
    """Score every crop of ``pending`` in one pass and fill in the face records."""
    crops = [p.crops for p in pending if len(p.crops)]
    if not crops:
        return
    probabilities = iter(score_crops(model, np.concatenate(crops), batch_size=batch_size,
                                     test_time_flip=test_time_flip, test_time_shift=test_time_shift))
    for p in pending:
        for box, detector_score in zip(p.boxes, p.scores, strict=True):
            row = next(probabilities)
            scores = {emotion: float(score) for emotion, score in zip(emotions, row, strict=True)}
            p.result.faces.append({"box": list(box), "score": detector_score,
                                   "emotion": emotions[int(np.argmax(row))], "scores": scores})


def score_crops(model: Any, crops: np.ndarray, *, batch_size: int, test_time_flip: bool = False,
                test_time_shift: int = 0) -> np.ndarray:
    """Class probabilities of stored-form crops (N, S, S), joined over the test-time views of ``views.views_of``
    by ``views.average``.

    An exported copy scores the views with onnxruntime; a Keras model through evaluation's input path, view by
    view (the numpy views are the same for both).
    """
    if isinstance(model, portable.PortableClassifier):
        return model.predict_probabilities(crops, batch_size=batch_size, test_time_flip=test_time_flip,
                                           test_time_shift=test_time_shift)
    from emotion_lib.evaluation import predict_probabilities

    # predict reports per image (its Progress line), so the per-view lines of evaluation's progress stay off.
    return predict_probabilities(model, crops, batch_size=batch_size, test_time_flip=test_time_flip,
                                 test_time_shift=test_time_shift, progress=False)


def predict_files(files: Iterable[InputFile], model: Any, *, detector: faces.FaceDetector | None, image_size: int,
                  batch_size: int, emotions: Sequence[str] = EMOTIONS, keep_images: bool = False,
                  test_time_flip: bool = False, test_time_shift: int = 0, faces_per_call: int | None = None,
                  max_wait: float = MAX_WAIT_SECONDS) -> Iterator[tuple[InputFile, ImageResult, Any]]:
    """Yield ``(file, result, image or None)`` for every file, in order, scoring faces in batches.

    Crops of consecutive images are pooled and scored together, in model batches of ``batch_size``, so a
    folder of single-face photos runs at the model's batch speed.  A pool is scored once it holds
    ``faces_per_call`` faces (default :data:`BATCHES_PER_CALL` batches: each scoring call costs a fixed
    set-up), or at least one batch that has waited ``max_wait`` seconds (slow photos still stream out).
    Images are kept (for annotation) only until scored, and at most ``faces_per_call`` images or
    :data:`MAX_HELD_BYTES` of pixels wait, so memory stays bounded whatever the number and size of photos.
    ``test_time_flip`` joins each face's probabilities with its mirror image's (``views.average``), and
    ``test_time_shift`` four shifted copies' too, as evaluation does.
    """
    per_call = faces_per_call or batch_size * BATCHES_PER_CALL
    queue: list[tuple[InputFile, _Pending]] = []
    since = time.monotonic()
    for item in files:
        if not queue:
            since = time.monotonic()
        queue.append((item, _prepare_one(item, detector, image_size, keep_images)))
        n_faces = sum(len(p.boxes) for _, p in queue)
        held = sum(p.image.nbytes for _, p in queue if p.image is not None)
        waited = n_faces >= batch_size and time.monotonic() - since >= max_wait
        if n_faces >= per_call or len(queue) >= per_call or held >= MAX_HELD_BYTES or waited:
            _score(model, [p for _, p in queue], batch_size, emotions, test_time_flip, test_time_shift)
            yield from ((i, p.result, p.image) for i, p in queue)
            queue = []
    _score(model, [p for _, p in queue], batch_size, emotions, test_time_flip, test_time_shift)
    yield from ((i, p.result, p.image) for i, p in queue)


# --------------------------------------------------------------------------- writers


class JsonlWriter:
    """One JSON object per image and line."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, result: ImageResult) -> None:
        """Write one image's record."""
        self.stream.write(json.dumps(result.record()) + "\n")
        self.stream.flush()  # A reader piping stdout sees each image as soon as it is done.


class CsvWriter:
    """One row per face; an image without faces (or unreadable) gets one row with empty face fields."""

    def __init__(self, stream: IO[str], emotions: Sequence[str] = EMOTIONS) -> None:
        self.stream, self.emotions = stream, tuple(emotions)
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(("path", *CSV_FACE_COLUMNS, *self.emotions, "error"))

    def write(self, result: ImageResult) -> None:
        """Write one image's rows."""
        error = result.error or ""
        if not result.faces:
            self.writer.writerow([result.path] + [""] * (len(CSV_FACE_COLUMNS) + len(self.emotions)) + [error])
        for index, face in enumerate(result.faces):
            scores = [face["scores"][emotion] for emotion in self.emotions]
            detector_score = "" if face["score"] is None else face["score"]  # --no-detect: no detector, no score
            self.writer.writerow([result.path, index, *face["box"], detector_score, face["emotion"], *scores, error])
        self.stream.flush()


@contextlib.contextmanager
def open_writer(output: Path | None, emotions: Sequence[str] = EMOTIONS) -> Iterator[JsonlWriter | CsvWriter]:
    """A writer for ``output`` (format from its extension), or JSON Lines on stdout.

    The file is written to a temporary sibling and renamed at the end, so an interrupted run never leaves
    a half-written result that looks complete.
    """
    if output is None:
        yield JsonlWriter(sys.stdout)
        return
    from emotion_lib.atomic import atomic_file

    with atomic_file(output) as tmp, tmp.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        yield CsvWriter(f, emotions) if output.suffix.lower() == ".csv" else JsonlWriter(f)


def check_output(output: Path | None) -> None:
    """Reject a bad ``--output`` before any work is done."""
    if output is None:
        return
    if output.is_dir():  # Before the extension: a folder is usually named without one.
        raise UserError(f"--output {output}: is a folder; give a file name such as {output / 'predictions.csv'}")
    if output.suffix.lower() not in (".jsonl", ".csv"):
        raise UserError(f"--output {output}: unknown format {output.suffix or '(no extension)'!r}; "
                        f"name the file .jsonl (one JSON object per image) or .csv (one row per face)")
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: folder {output.parent} does not exist; create it first")
    if not os.access(output.parent, os.W_OK):
        raise UserError(f"--output {output}: folder {output.parent} is not writable; choose another place")


def check_annotate(folder: Path | None) -> None:
    """Create the ``--annotate`` folder now, so a bad one is a usage error rather than a failure mid-run."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--annotate {folder}: exists and is not a folder; give a folder for the annotated PNGs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--annotate {folder}: cannot create it ({error.strerror or error})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--annotate {folder}: is not writable; choose another folder")


# --------------------------------------------------------------------------- annotation

# One colour per emotion (colour-blind-safe Okabe-Ito palette), so a folder of annotated photos reads at a glance.
EMOTION_COLOURS: dict[str, tuple[int, int, int]] = dict(zip(EMOTIONS, [
    (213, 94, 0), (0, 158, 115), (204, 121, 167), (240, 228, 66), (153, 153, 153), (0, 114, 178), (230, 159, 0)],
    strict=True))


class AnnotationNames:
    """Output names under the annotation folder: the input's relative path as ``.png``, never overwriting."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[Path] = set()

    def next(self, name: Path) -> Path:
        """A fresh output path for the input whose relative name is ``name``."""
        path = self.folder / name.with_suffix(".png")
        n = 1
        while path in self.used:  # a.jpg and a.png (or two folders' a.jpg) would otherwise share a.png
            n += 1
            path = self.folder / name.with_name(f"{name.stem}-{n}.png")
        self.used.add(path)
        return path


def annotate_image(image: np.ndarray, face_records: list[dict[str, Any]], path: Path) -> None:
    """Write ``image`` as a PNG with each face's box and ``emotion score`` label drawn on it."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    side = max(canvas.size)
    width = max(2, side // 250)
    try:
        font = ImageFont.load_default(size=max(12, side // 32))
    except (TypeError, OSError):  # Pillow without FreeType has only the fixed bitmap font.
        font = ImageFont.load_default()
    for face in face_records:
        x, y, w, h = face["box"]
        colour = EMOTION_COLOURS[face["emotion"]]
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=colour, width=width)
        label = f"{face['emotion']} {face['scores'][face['emotion']]:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tw, th = right - left + 2 * width, bottom - top + 2 * width
        # Above the box when there is room, else inside its top edge.
        ty = y - th if y - th >= 0 else y
        draw.rectangle((x, ty, x + tw, ty + th), fill=colour)
        draw.text((x + width - left, ty + width - top), label, fill=(0, 0, 0), font=font)
    if not face_records:
        draw.text((4, 4), "no face found", fill=(255, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG", optimize=True)


# --------------------------------------------------------------------------- progress and main


class Progress:
    """A progress line on stderr (count, elapsed, estimated time left) for runs of more than a handful of images."""

    def __init__(self, total: int, stream: IO[str] = sys.stderr, min_images: int = PROGRESS_MIN_IMAGES) -> None:
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.enabled = total > min_images
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = self.start  # No estimate from the first image alone: it also pays for TensorFlow's warm-up.

    def line(self, done: int, n_faces: int) -> str:
        """The progress text after ``done`` images."""
        elapsed = time.monotonic() - self.start
        left = elapsed / done * (self.total - done) if done else float("nan")
        return (f"predict: {done}/{self.total} images, {n_faces} faces, {elapsed:.0f} s elapsed, "
                f"about {left:.0f} s left")

    def update(self, done: int, n_faces: int) -> None:
        """Show progress after ``done`` images, at most every 0.5 s on a terminal and every 10 s in a log."""
        now = time.monotonic()
        # A terminal gets one line rewritten in place; a log gets new lines.
        if not self.enabled or (now - self.last < (0.5 if self.tty else 10.0) and done < self.total):
            return
        self.last = now
        end = "\n" if done >= self.total or not self.tty else "\r"
        print(self.line(done, n_faces), end=end, file=self.stream, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command's options; a bad one is refused in one ``error:`` line with exit status 2."""
    parser = Parser(
        prog="python -m emotion_lib.predict", description=__doc__.split("\n\n")[0],
        epilog="exit status: 0 every image was read; 1 some images (or paths) could not be read, see the error "
               "records; 2 usage or model error before any prediction")
    parser.add_argument("paths", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and folders (recursive)")
    parser.add_argument("--model", type=Path, help="a trained model, models/<trial>.keras, or a copy exported by "
                        "python -m emotion_lib.export, FILE.onnx, which runs without TensorFlow "
                        "(default: the released model in release/, else the best trial of metrics/summary.json)")
    parser.add_argument("--output", type=Path, help="write FILE.jsonl (one object per image) or FILE.csv "
                        "(one row per face) instead of JSON Lines on stdout")
    parser.add_argument("--annotate", type=Path, metavar="DIR", help="write each image with its faces drawn "
                        "(PNG) into DIR")
    parser.add_argument("--detector", choices=("yunet", "haar"), default=None,
                        help="face detector: yunet (default; OpenCV's FaceDetectorYN, the vendored YuNet model) or "
                        "haar (OpenCV's frontal-face Haar cascade)")
    parser.add_argument("--min-score", type=_non_negative_number, default=None, metavar="S",
                        help=f"keep faces whose detector score is at least S (default: {faces.YUNET_MIN_SCORE} for "
                        f"yunet, scores 0 to 1; {faces.MIN_NEIGHBORS} for haar, whose score is its neighbour count)")
    parser.add_argument("--no-detect", action="store_true", help="each image is one pre-cropped face "
                        "(FER-style 48x48 crops): no face detection")
    positive = whole_number(1, None, "a positive integer")
    parser.add_argument("--batch-size", type=positive, default=64, metavar="N",
                        help="faces per model batch (default 64)")
    add_view_options(parser, flip_help="score each face joined with its mirror image, by their mean logits (default: "
                     "as evaluate-<trial> does for models/<trial>.keras, evaluate.<trial>.test_time_flip; as recorded "
                     "for an .onnx copy or a release; off for other models)", shift_help="also join each face shifted "
                     "this many pixels up, down, left and right; 0 = off (default: as evaluate-<trial> does, "
                     "evaluate.<trial>.test_time_shift; as recorded for an .onnx copy or a release; 0 for other "
                     "models)")
    return parser


def add_view_options(parser: argparse.ArgumentParser, *, flip_help: str, shift_help: str) -> None:
    """``--[no-]test-time-flip`` and ``--test-time-shift PIXELS`` (0 to the largest shift), None when not given."""
    parser.add_argument("--test-time-flip", action=argparse.BooleanOptionalAction, default=None, help=flip_help)
    shift = whole_number(0, MAX_TEST_TIME_SHIFT, f"a whole number of pixels from 0 to {MAX_TEST_TIME_SHIFT}")
    parser.add_argument("--test-time-shift", type=shift, default=None, metavar="PIXELS", help=shift_help)


def whole_number(low: int, high: int | None, expected: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high`` (None: no limit); else it says ``expected``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value
    return parse


def _non_negative_number(text: str) -> float:
    """An argparse ``type``: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.7, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text}")
    return value


def check_detection(args: argparse.Namespace) -> None:
    """Reject detection options that contradict each other or the detector's score range, before any work."""
    if args.no_detect and (args.detector or args.min_score is not None):
        given = "--detector" if args.detector else "--min-score"
        raise UserError(f"{given} with --no-detect: --no-detect takes each image as one face and runs no detector; "
                        f"drop one of them")
    if (args.detector or "yunet") == "yunet" and args.min_score is not None and args.min_score > 1:
        raise UserError(f"--min-score {args.min_score:g}: YuNet's scores run from 0 to 1 (default "
                        f"{faces.YUNET_MIN_SCORE}); a neighbour count is a --detector haar score")


def _run(args: argparse.Namespace) -> None:
    """Everything the command does; user errors before any prediction are UserErrors (exit 2)."""
    check_output(args.output)
    check_annotate(args.annotate)
    check_detection(args)
    settings = project_settings()
    if settings.note:
        print(f"note: {settings.note}", file=sys.stderr)
    exclude = args.annotate.resolve() if args.annotate is not None else None
    files, problems = collect_inputs(args.paths, settings.extensions, exclude=exclude)
    model_path, trial = args.model, ""
    if model_path is None:
        model_path, message = default_model()
        trial = model_path.stem
        print(message, file=sys.stderr)
    model = load_classifier(model_path, settings.emotions, trial)
    copy = model.info if isinstance(model, portable.PortableClassifier) else None
    if copy is not None:
        # The copy knows its outputs and its face size; params.yaml, if present at all, may be another study's.
        print(f"model: {portable.describe(copy, settings.emotions)}", file=sys.stderr)
        settings = dataclasses.replace(settings, emotions=copy.emotions, image_size=copy.image_size)
    test_time_flip, why = use_test_time_flip(args.test_time_flip, model_path, settings, copy)
    if test_time_flip:
        print(f"test-time flip: on ({why}): each face is scored with its mirror image (their mean logits)",
              file=sys.stderr)
    test_time_shift, why = use_test_time_shift(args.test_time_shift, model_path, settings, copy)
    if test_time_shift:
        print(f"test-time shift: {test_time_shift} px ({why}): the face moved up, down, left and right is joined in",
              file=sys.stderr)
    detector = None if args.no_detect else faces.make_detector(args.detector or "yunet", args.min_score)
    print(detector.describe() if detector else "faces: no detector (--no-detect): each image is one face, "
          "its score null", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    try:
        failed = len(problems) + _predict_all(files, model, detector, settings, args, test_time_flip,
                                              test_time_shift)
    except KeyboardInterrupt:
        done = f"{args.output} was not written" if args.output else "stdout holds the images done so far"
        print(f"error: interrupted; {done}", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): stop quietly with the shell's SIGPIPE status, as
        # command-line tools do (and not 1, which would blame the images).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    sys.exit(EXIT_UNREADABLE if failed else EXIT_OK)


def _predict_all(files: list[InputFile], model: Any, detector: faces.FaceDetector | None, settings: Settings,
                 args: argparse.Namespace, test_time_flip: bool, test_time_shift: int = 0) -> int:
    """Predict, write every record, annotate; return the number of images that could not be read."""
    progress = Progress(len(files))
    names = AnnotationNames(args.annotate) if args.annotate is not None else None
    done = n_faces = failed = 0
    with open_writer(args.output, settings.emotions) as writer:
        for item, result, image in predict_files(files, model, detector=detector, image_size=settings.image_size,
                                                 batch_size=args.batch_size, emotions=settings.emotions,
                                                 keep_images=names is not None,
                                                 test_time_flip=test_time_flip,
                                                 test_time_shift=test_time_shift):
            writer.write(result)
            if result.error:
                failed += 1
                print(f"error: {result.path}: {result.error}", file=sys.stderr)
            elif names is not None:
                target = names.next(item.annotate_name)
                try:
                    annotate_image(image, result.faces, target)
                except OSError as error:  # a full disk or a read-only file: the prediction itself stands
                    failed += 1
                    print(f"error: {target}: cannot write the annotated image ({error})", file=sys.stderr)
            done, n_faces = done + 1, n_faces + len(result.faces)
            progress.update(done, n_faces)
    seconds = time.monotonic() - progress.start
    where = f"; wrote {args.output}" if args.output else ""
    print(f"predict: {done} images, {n_faces} faces, {failed} unreadable, {seconds:.1f} s{where}", file=sys.stderr)
    return failed


def main(argv: Sequence[str] | None = None) -> None:
    """The command line; exits 0, 1 (some images unreadable) or 2 (usage or model error)."""
    run_stage(_run, build_parser(), argv)


if __name__ == "__main__":
    main()
