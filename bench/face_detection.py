"""Benchmark: predict's face detectors (YuNet, the default, and the Haar cascade) on real photos and pasted faces.

Prints, for each detector, with the CPU:

* scikit-image's 26 photographs: the astronaut's and the cameraman's faces found, false faces in the 24 others;
* the threshold table behind ``--min-score``'s default: YuNet's highest scores for anything in those 24 photos
  (at five scales, and mirrored) beside the recall of pasted faces at each threshold; the same for Haar's
  neighbour count;
* FER-2013 faces pasted into the 24 photos (512x512, faces 64-256 px, half of them tilted by up to 15 degrees,
  1-3 per photo, edges feathered): recall at IoU >= 0.5 between the crop the classifier sees and the pasted
  FER-2013 square, and the detections that match no pasted face;
* the crop: how the candidate crops of the same detections frame the pasted face (IoU, centre and scale error,
  and the correlation of the 48x48 crop with the original FER-2013 image, both lightly blurred), and with
  ``--model`` the emotion accuracy of the crops against ``--no-detect`` on the original images of the same
  faces, scored with the test-time views predict uses for that model;
* detection speed on the 512x512 photos (detection and cropping, not the classifier: see
  ``bench/predict_speed.py``);
* large photos searched three ways (shrunk to 1024 px, at full size, and both as predict does): the astronaut
  enlarged up to 4096 px (one large face), and 3000 px photos with small (50-140 px) pasted faces.

FER-2013 images are read at run time from the folder given and never written anywhere.  Usage::

    python bench/face_detection.py /tmp/fer/fer2013-dev/test [--scenes 240] [--seed 0] [--model M.keras]

The crop rule and the thresholds in ``emotion_lib/faces.py`` were chosen on faces of the dev *train* split
(``--seed 1``); report figures on the test split, which they were not chosen on.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emotion_lib  # noqa: E402, F401, I001  (oneDNN on before TensorFlow loads, as in the stages)
# isort: split
import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from bench.machine import cpu_description  # noqa: E402
from emotion_lib import EMOTIONS, faces  # noqa: E402
from emotion_lib.prepare import normalise_image  # noqa: E402
from tests.test_faces import ASTRONAUT, ASTRONAUT_FACE, CAMERA, CAMERA_FACE, NO_FACE_PHOTOS, iou  # noqa: E402

SIDE = 512
FACE_SIZES = (64, 256)
MAX_TILT = 15.0
PHOTO_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
YUNET_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
HAAR_THRESHOLDS = (5, 10, 15, 20, 30)


@dataclass
class Pasted:
    """One FER-2013 face pasted into a scene: its square's centre and side, its tilt, its label and pixels."""

    cx: float
    cy: float
    side: int
    angle: float
    label: int
    face: np.ndarray

    @property
    def box(self) -> faces.Box:
        return round(self.cx - self.side / 2), round(self.cy - self.side / 2), self.side, self.side


@dataclass
class Scene:
    """A 512x512 gray photo without faces, with FER-2013 faces pasted in."""

    background: str
    gray: np.ndarray
    pasted: list[Pasted] = field(default_factory=list)


# --------------------------------------------------------------------------- scenes


def gray_photo(path: Path) -> np.ndarray:
    image, error = faces.read_image(path)
    if image is None:
        raise SystemExit(f"error: {path}: {error}")
    return faces.to_gray(image)


def backgrounds() -> list[tuple[str, np.ndarray]]:
    """The 24 photos without faces, scaled so the short side is 512 px and centre-cropped square."""
    out = []
    for path in NO_FACE_PHOTOS:
        gray = gray_photo(path)
        scale = SIDE / min(gray.shape)
        size = (max(SIDE, round(gray.shape[1] * scale)), max(SIDE, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        y0, x0 = (gray.shape[0] - SIDE) // 2, (gray.shape[1] - SIDE) // 2
        out.append((path.name, np.ascontiguousarray(gray[y0:y0 + SIDE, x0:x0 + SIDE])))
    return out


def fer_faces(folder: Path, n: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """``n`` random (label, 48x48 image) pairs from a FER-2013 split folder (``<emotion>/*.jpg``)."""
    files = [(label, path) for label, emotion in enumerate(EMOTIONS) for path in sorted((folder / emotion).glob("*"))]
    if len(files) < n:
        raise SystemExit(f"error: {folder}: {len(files)} images in its <emotion>/ folders, {n} needed; give a "
                         f"FER-2013 split folder such as <fer2013-dev>/test")
    return [(files[i][0], gray_photo(files[i][1])) for i in rng.choice(len(files), n, replace=False)]


def paste(scene: np.ndarray, face: np.ndarray, side: int, angle: float, cx: float, cy: float) -> np.ndarray:
    """``face`` enlarged to ``side`` px, turned ``angle`` degrees counter-clockwise, blended in at ``(cx, cy)``."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    mask = np.ones_like(big)
    # A soft edge, so the detectors see a face in a photo rather than a sharp-edged square.
    mask = cv2.GaussianBlur(np.pad(mask, side // 8), (0, 0), side / 40)
    big = np.pad(big, side // 8, mode="edge")
    centre = ((big.shape[1] - 1) / 2, (big.shape[0] - 1) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    matrix[:, 2] += (cx - centre[0], cy - centre[1])
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpAffine(big, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, matrix, size, flags=cv2.INTER_LINEAR)
    return np.rint(scene * (1 - alpha) + warped * alpha).clip(0, 255).astype(np.uint8)


def make_scenes(folder: Path, n_scenes: int, seed: int) -> list[Scene]:
    """``n_scenes`` scenes, cycling through the backgrounds, each with 1-3 non-overlapping pasted faces."""
    rng = np.random.default_rng(seed)
    pool = iter(fer_faces(folder, 3 * n_scenes, rng))
    scenes = []
    photos = backgrounds()
    for i in range(n_scenes):
        name, background = photos[i % len(photos)]
        scene = Scene(name, background.copy())
        for _ in range(int(rng.integers(1, 4))):
            side = int(rng.integers(FACE_SIZES[0], FACE_SIZES[1] + 1))
            angle = float(rng.uniform(-MAX_TILT, MAX_TILT)) if rng.random() < 0.5 else 0.0
            reach = side * math.sqrt(0.5) + 2  # half the diagonal: the tilted square stays inside the photo
            for _try in range(30):
                cx, cy = rng.uniform(reach, SIDE - reach, 2)
                if all(math.hypot(cx - p.cx, cy - p.cy) > reach + p.side * math.sqrt(0.5) for p in scene.pasted):
                    label, face = next(pool)
                    scene.gray = paste(scene.gray, face, side, angle, cx, cy)
                    scene.pasted.append(Pasted(cx, cy, side, angle, label, face))
                    break
        scenes.append(scene)
    return scenes


# --------------------------------------------------------------------------- matching and crops


def match(found: list[faces.Face], pasted: list[Pasted]) -> dict[int, faces.Face]:
    """Pasted face index -> the detection whose crop frames it at IoU >= 0.5 (one each, best scores first)."""
    matched: dict[int, faces.Face] = {}
    for face in sorted(found, key=lambda f: -(f.score or 0)):
        best = max((i for i in range(len(pasted)) if i not in matched), default=None,
                   key=lambda i: iou(face.crop, pasted[i].box))
        if best is not None and iou(face.crop, pasted[best].box) >= 0.5:
            matched[best] = face
    return matched


def crop_rules(face: faces.Face, yunet_row: np.ndarray | None) -> dict[str, tuple[faces.Box, float]]:
    """The candidate crops of one detection, each a box and the angle to turn it by (degrees counter-clockwise).

    The detector's box (squashed to 48x48 if not square); for YuNet, squares around its box of 1, 1.1 and 1.2
    times the face size (the geometric mean of the box's sides) or of its height; the cascade's framing (what
    predict uses, last); and that framing turned so that YuNet's two eye landmarks are level.
    """
    rules = {"detector's box": (face.box, 0.0)}
    if yunet_row is not None:
        x, y, w, h = (float(v) for v in yunet_row[:4])
        size = math.sqrt(w * h)
        for factor in (1.0, faces.FALLBACK_SIDE, 1.2):
            rules[f"square {factor:g} x face size"] = (faces.square(x + w / 2, y + h / 2, factor * size), 0.0)
        rules["square 1 x box height"] = (faces.square(x + w / 2, y + h / 2, h), 0.0)
        right_eye, left_eye = yunet_row[4:6], yunet_row[6:8]  # the subject's right eye is on the image's left
        tilt = math.degrees(math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
        rules["framed by the cascade, eyes levelled"] = (face.crop, tilt)
        rules["framed by the cascade (predict's crop)"] = (face.crop, 0.0)
    return rules


def cut(gray: np.ndarray, box: faces.Box, angle: float) -> np.ndarray:
    """The 48x48 crop of ``box``, first turned ``angle`` degrees about its centre (edges repeated, as predict does)."""
    if angle == 0:
        return faces.face_crops(gray, [box], 48)[0]
    x, y, w, h = box
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    matrix[:, 2] += (w / 2 - (x + w / 2), h / 2 - (y + h / 2))
    turned = cv2.warpAffine(gray, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return normalise_image(Image.fromarray(turned), 48)[0]


def blurred_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel correlation of two 48x48 faces after a 1.5 px blur (a crop off by a pixel still counts as close)."""
    a, b = (cv2.GaussianBlur(v.astype(np.float32), (0, 0), 1.5).ravel() for v in (a, b))
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def frame_errors(crop: faces.Box, target: Pasted) -> tuple[float, float, float]:
    """IoU with the pasted square, centre error and |log| scale error, both relative to the pasted face's side."""
    x, y, w, h = crop
    centre = math.hypot(x + w / 2 - target.cx, y + h / 2 - target.cy) / target.side
    return iou(crop, target.box), centre, abs(math.log(math.sqrt(w * h) / target.side))


# --------------------------------------------------------------------------- the reports


def report_photos(detectors: dict[str, faces.FaceDetector]) -> None:
    print("\n== scikit-image's 26 photographs, each detector at its default --min-score")
    for name, detector in detectors.items():
        astronaut = detector.detect(gray_photo(ASTRONAUT))
        camera = detector.detect(gray_photo(CAMERA))
        false = {p.name: detector.detect(gray_photo(p)) for p in NO_FACE_PHOTOS}
        n_false = sum(len(v) for v in false.values())

        def found(result: list[faces.Face], truth: faces.Box) -> str:
            scores = ", ".join(f"{f.score:g} (IoU {iou(f.box, truth):.2f})" for f in result)
            return f"{len(result)} face{'s' * (len(result) != 1)}" + (f" scored {scores}" if result else "")

        print(f"{name:6s} astronaut: {found(astronaut, ASTRONAUT_FACE)}; cameraman: {found(camera, CAMERA_FACE)}; "
              f"false faces in the 24 others: {n_false}"
              + (" (" + ", ".join(f"{k} {len(v)}" for k, v in false.items() if v) + ")" if n_false else ""))


def photo_false_scores(detector: faces.FaceDetector) -> list[float]:
    """The scores of everything ``detector`` finds in the 24 photos without a face, at five scales and mirrored."""
    scores = []
    for path in NO_FACE_PHOTOS:
        gray = gray_photo(path)
        for scale in PHOTO_SCALES:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            scaled = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
            for image in (scaled, np.ascontiguousarray(scaled[:, ::-1])):
                scores += [float(f.score) for f in detector.detect(image)]
    return scores


def report_thresholds(name: str, lenient: faces.FaceDetector, scenes: list[Scene],
                      thresholds: tuple[float, ...]) -> None:
    false = photo_false_scores(lenient)
    n_photos = len(NO_FACE_PHOTOS) * len(PHOTO_SCALES) * 2
    results = [(scene, lenient.detect(scene.gray)) for scene in scenes]
    total = sum(len(scene.pasted) for scene in scenes)
    print(f"\n== --min-score for {name}: 24 photos without faces x {len(PHOTO_SCALES)} scales "
          f"{PHOTO_SCALES} x mirrored ({n_photos} images), and {total} pasted faces")
    print(f"{name}: highest score of a false face in those images: {max(false, default=float('nan')):g}")
    for threshold in thresholds:
        recall = sum(len(match([f for f in found if f.score >= threshold], scene.pasted))
                     for scene, found in results) / total
        n_false = sum(score >= threshold for score in false)
        print(f"  --min-score {threshold:<4g} recall {recall:.3f}   false faces in the {n_photos} images: {n_false}")


@dataclass
class Tally:
    """What one detector did on the pasted faces."""

    n: dict[str, int] = field(default_factory=lambda: {"upright": 0, "tilted": 0})
    found: dict[str, int] = field(default_factory=lambda: {"upright": 0, "tilted": 0})
    unmatched: int = 0
    framed: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    crops: dict[str, list[np.ndarray]] = field(default_factory=dict)
    originals: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    seconds: float = 0.0
    n_faces: int = 0
    cascade_framed: int = 0


def run_detector(detector: faces.FaceDetector, scenes: list[Scene]) -> Tally:
    """Detect in every scene, match, and cut every candidate crop of every matched face."""
    tally = Tally()
    for scene in scenes:
        start = time.perf_counter()
        found = detector.detect(scene.gray)
        tally.seconds += time.perf_counter() - start
        tally.n_faces += len(found)
        matched = match(found, scene.pasted)
        tally.unmatched += len(found) - len(matched)
        rows = detector.detections(scene.gray) if isinstance(detector, faces.YuNetDetector) else None
        for i, target in enumerate(scene.pasted):
            kind = "tilted" if target.angle else "upright"
            tally.n[kind] += 1
            if i not in matched:
                continue
            tally.found[kind] += 1
            face = matched[i]
            row = None if rows is None else min(rows, key=lambda r: abs(r[0] - face.box[0]) + abs(r[1] - face.box[1]))
            if row is not None and face.crop != faces.fer_frame(scene.gray, row[:4]):  # not the fallback square
                tally.cascade_framed += 1
            for rule, (crop, angle) in crop_rules(face, row).items():
                pixels = cut(scene.gray, crop, angle)
                tally.framed.setdefault(rule, []).append(
                    (*frame_errors(crop, target), blurred_correlation(pixels, target.face)))
                tally.crops.setdefault(rule, []).append(pixels)
            tally.originals.append(normalise_image(Image.fromarray(target.face), 48)[0])
            tally.labels.append(target.label)
    return tally


def report_pasted(name: str, tally: Tally, scenes: list[Scene]) -> None:
    n, found = tally.n, tally.found
    total = sum(n.values())
    print(f"{name:6s} recall {sum(found.values()) / total:.3f} of {total} "
          f"(upright {found['upright'] / max(1, n['upright']):.3f}, "
          f"tilted {found['tilted'] / max(1, n['tilted']):.3f}); "
          f"detections matching no pasted face: {tally.unmatched}; "
          f"{1000 * tally.seconds / len(scenes):.0f} ms per 512x512 photo = {len(scenes) / tally.seconds:.1f} "
          f"photos/s, {tally.n_faces / tally.seconds:.1f} faces/s")


def report_crops(name: str, tally: Tally, classify: Callable[[np.ndarray], np.ndarray] | None) -> None:
    labels = np.array(tally.labels)
    total = sum(tally.n.values())
    line = f"{name}: {len(labels)} of {total} faces found"
    if tally.cascade_framed:
        line += f", {tally.cascade_framed} of them framed by the cascade (the others by the fallback square)"
    if classify is not None and len(labels):
        reference = (classify(np.stack(tally.originals)) == labels).mean()
        default = list(tally.crops)[-1]  # the crop predict uses: the last rule of crop_rules
        correct = (classify(np.stack(tally.crops[default])) == labels).sum()
        line += (f"; --no-detect on their FER-2013 images: accuracy {reference:.3f}; end to end with predict's crop "
                 f"(a missed face counts as wrong): {correct / total:.3f}")
    print(line)
    for rule, values in tally.framed.items():
        v = np.array(values)
        line = (f"  {rule:40s} IoU {v[:, 0].mean():.3f}  centre error {np.median(v[:, 1]):.3f}  "
                f"scale error {np.median(v[:, 2]):.3f}  blurred correlation {v[:, 3].mean():.3f}")
        if classify is not None:
            line += f"  accuracy {(classify(np.stack(tally.crops[rule])) == labels).mean():.3f}"
        print(line)


LARGE_SIDE = 3000
LARGE_FACE_SIZES = (50, 140)
PASSES = {"shrunk to 1024 px only": (1024, 1024), "full size only": (10**6, 10**6),
          "predict (full size + 1024 px)": (faces.DETECT_MAX_SIDE, faces.COARSE_SIDE)}
"""The ways of searching a large photo compared: (DETECT_MAX_SIDE, COARSE_SIDE) for each."""


def large_scenes(folder: Path, n_scenes: int, seed: int) -> list[tuple[np.ndarray, list[Pasted]]]:
    """3000x3000 photos (the backgrounds enlarged) with up to 6 small FER-2013 faces (50-140 px), upright."""
    rng = np.random.default_rng(seed + 1)
    pool = iter(fer_faces(folder, 6 * n_scenes, rng))
    photos = backgrounds()
    scenes = []
    for i in range(n_scenes):
        gray = cv2.resize(photos[(5 * i) % len(photos)][1], (LARGE_SIDE, LARGE_SIDE), interpolation=cv2.INTER_CUBIC)
        pasted: list[Pasted] = []
        for _ in range(6):
            side = int(rng.integers(LARGE_FACE_SIZES[0], LARGE_FACE_SIZES[1] + 1))
            cx, cy = rng.uniform(200, LARGE_SIDE - 200, 2)
            if all(math.hypot(cx - p.cx, cy - p.cy) > 300 for p in pasted):
                label, face = next(pool)
                gray = paste(gray, face, side, 0.0, cx, cy)
                pasted.append(Pasted(cx, cy, side, 0.0, label, face))
        scenes.append((gray, pasted))
    return scenes


def _searched(detector: faces.YuNetDetector, gray: np.ndarray, sides: tuple[int, int]) -> tuple[list, float]:
    """The faces found with ``faces.DETECT_MAX_SIDE, faces.COARSE_SIDE = sides``, and the seconds it took."""
    saved = faces.DETECT_MAX_SIDE, faces.COARSE_SIDE
    faces.DETECT_MAX_SIDE, faces.COARSE_SIDE = sides
    try:
        start = time.perf_counter()
        return detector.detect(gray), time.perf_counter() - start
    finally:
        faces.DETECT_MAX_SIDE, faces.COARSE_SIDE = saved


def report_large_photos(folder: Path, n_scenes: int, seed: int, min_score: float) -> None:
    print(f"\n== YuNet on large photos, at --min-score {min_score:g}, searched three ways")
    detector = faces.YuNetDetector(min_score, frame_by_cascade=False)
    photo = gray_photo(ASTRONAUT)
    for factor in (1, 2, 4, 6, 8):
        big = cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        truth = tuple(v * factor for v in ASTRONAUT_FACE)
        line = f"  the astronaut x{factor} ({big.shape[1]} px, face about {95 * factor} px):"
        for label, sides in PASSES.items():
            found, seconds = _searched(detector, big, sides)
            described = ", ".join(f"{f.score:g}{'' if iou(f.box, truth) > 0.5 else ' false'}" for f in found)
            line += f"  {label}: [{described}] {1000 * seconds:.0f} ms;"
        print(line.rstrip(";"))
    scenes = large_scenes(folder, n_scenes, seed)
    total = sum(len(pasted) for _, pasted in scenes)
    if not total:  # --large-scenes 0
        return
    print(f"  {n_scenes} photos of {LARGE_SIDE} px with {total} FER-2013 faces of {LARGE_FACE_SIZES[0]}-"
          f"{LARGE_FACE_SIZES[1]} px (found: the box's centre in the pasted square):")
    for label, sides in PASSES.items():
        n_found = n_false = 0
        seconds = 0.0
        for gray, pasted in scenes:
            found, took = _searched(detector, gray, sides)
            seconds += took
            hits = [[abs(f.box[0] + f.box[2] / 2 - p.cx) < p.side / 2 and abs(f.box[1] + f.box[3] / 2 - p.cy) <
                     p.side / 2 for p in pasted] for f in found]
            n_found += sum(any(column) for column in zip(*hits, strict=True)) if hits else 0
            n_false += sum(not any(row) for row in hits)
        print(f"    {label:30s} recall {n_found / total:.3f}, false faces {n_false}, "
              f"{1000 * seconds / len(scenes):.0f} ms per photo")


def classifier(model_path: Path, batch_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """Predicted labels of 48x48 crops by ``model_path``, with the test-time views predict uses for it."""
    from emotion_lib import predict
    from emotion_lib.evaluation import predict_probabilities

    settings = predict.project_settings()
    model = predict.load_classifier(model_path, settings.emotions)
    flip, _ = predict.use_test_time_flip(None, model_path, settings)
    shift, _ = predict.use_test_time_shift(None, model_path, settings)
    print(f"model: {model_path}, test-time flip {'on' if flip else 'off'}, shift {shift} px (as predict scores it)")
    return lambda crops: predict_probabilities(model, crops, batch_size=batch_size, test_time_flip=flip,
                                               test_time_shift=shift, progress=False).argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fer_split", type=Path, help="a FER-2013 split folder, <emotion>/*.jpg (read, never copied)")
    parser.add_argument("--scenes", type=int, default=240, help="photos with pasted faces (default 240)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--large-scenes", type=int, default=12, help="3000 px photos with small faces (default 12)")
    parser.add_argument("--model", type=Path, help="a trained .keras model: also measure emotion accuracy")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    print(f"CPU: {cpu_description()}; OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    classify = classifier(args.model, args.batch_size) if args.model else None
    scenes = make_scenes(args.fer_split, args.scenes, args.seed)
    print(f"{len(scenes)} scenes, {sum(len(s.pasted) for s in scenes)} FER-2013 faces from {args.fer_split} "
          f"(seed {args.seed})")
    detectors = {"yunet": faces.make_detector("yunet"), "haar": faces.make_detector("haar")}
    report_photos(detectors)
    report_thresholds("yunet", faces.make_detector("yunet", min_score=min(YUNET_THRESHOLDS)), scenes,
                      YUNET_THRESHOLDS)
    report_thresholds("haar", faces.make_detector("haar"), scenes, HAAR_THRESHOLDS)
    print("\n== pasted faces, each detector at its default --min-score (speed: detection and cropping only)")
    tallies = {name: run_detector(detector, scenes) for name, detector in detectors.items()}
    for name, tally in tallies.items():
        report_pasted(name, tally, scenes)
    print("\n== the crop: the same detections cut in several ways; errors relative to the pasted face's side"
          + ("" if classify else "; pass --model for emotion accuracy"))
    if classify is not None:
        originals = np.stack([normalise_image(Image.fromarray(p.face), 48)[0] for s in scenes for p in s.pasted])
        labels = np.array([p.label for s in scenes for p in s.pasted])
        print(f"--no-detect on the FER-2013 images of all {len(labels)} pasted faces: accuracy "
              f"{(classify(originals) == labels).mean():.3f}")
    for name, tally in tallies.items():
        report_crops(name, tally, classify)
    report_large_photos(args.fer_split, args.large_scenes, args.seed, detectors["yunet"].min_score)


if __name__ == "__main__":
    main()
