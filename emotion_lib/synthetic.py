"""Embedded synthetic stand-in for FER-2013, so the pipeline runs without the real data.

:func:`synthesize_dataset` writes the Kaggle FER-2013 folder layout
(``<out_dir>/train/<emotion>/im000123.jpg`` and ``<out_dir>/test/<emotion>/...``)
with 48x48 8-bit grayscale JPEGs and FER-2013's per-class proportions, so the
same loading, cleaning, undersampling and training code runs on either.

Each image is a procedurally drawn face whose *geometry* carries the emotion
(mouth curve and opening, brow height and angle, eye opening, nose wrinkle,
cheek folds), drawn from continuous per-emotion distributions whose intensity
varies, on top of per-image identity (face shape, hair, skin and background
tone, glasses) and nuisance (position, size, rotation, lighting, blur, noise,
occlusion).  The mix is tuned so that a small CNN trained from scratch on the
undersampled set at scale 0.5 (~1,220 training images; the scale
``bench/synthetic_difficulty.py`` uses, where the pipeline's default is
``synthetic.scale: 0.15``) reaches about 87% test accuracy while logistic
regression on raw pixels stays below 30%: the task is learnable but needs
translation-tolerant features, like the real one.  ``bench/synthetic_difficulty.py`` measures both numbers; rerun
it after changing any constant below.

Generation is deterministic: every image has its own random generator seeded
from ``(seed, split, emotion, index)``, so the same arguments give
byte-identical files regardless of generation order.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from emotion_lib import EMOTIONS
from emotion_lib.atomic import atomic_dir

SPLITS: tuple[str, ...] = ("train", "test")

FER2013_COUNTS: dict[str, dict[str, int]] = {
    "train": {
        "angry": 3995,
        "disgust": 436,
        "fear": 4097,
        "happy": 7215,
        "neutral": 4965,
        "sad": 4830,
        "surprise": 3171,
    },
    "test": {
        "angry": 958,
        "disgust": 111,
        "fear": 1024,
        "happy": 1774,
        "neutral": 1233,
        "sad": 1247,
        "surprise": 831,
    },
}
"""Images per split and class in the Kaggle FER-2013 release (28,709 train / 7,178 test)."""

# JPEG quality is fixed so that output bytes depend only on the pixels; 95
# keeps compression artefacts well below the drawn features.
_JPEG_QUALITY = 95

# Faces are drawn at this multiple of the output size and box-filtered down,
# which anti-aliases the polygons far more cheaply than drawing at 1x and blurring.
_SUPERSAMPLE = 3

# Expression parameters, in face units (1.0 = half the face width), as offsets
# from a neutral face.  Each image draws an intensity and scales its class's
# offsets by it, so weak expressions drift towards neutral (and towards each
# other) as real, subtle expressions do.
#   brow_raise  whole brow up (+) or down (-)
#   brow_inner  inner brow end up (+) or down (-) relative to the outer end
#   eye_open    relative change of the eye opening
#   mouth_width relative change of the mouth half-width
#   mouth_curve corner lift: + smile, - frown
#   mouth_open  gap between the lips
#   mouth_round how oval the opening is (0 = lens, 1 = ellipse)
#   upper_lip   extra raise of the upper lip centre (disgust's sneer)
#   asym        one-sided corner lift and lip raise
#   wrinkle     visibility of horizontal nose-bridge wrinkles
#   folds       visibility of the nose-to-mouth (nasolabial) folds
_PARAM_NAMES: tuple[str, ...] = (
    "brow_raise",
    "brow_inner",
    "eye_open",
    "mouth_width",
    "mouth_curve",
    "mouth_open",
    "mouth_round",
    "upper_lip",
    "asym",
    "wrinkle",
    "folds",
)

_EXPRESSION_OFFSETS: dict[str, dict[str, float]] = {
    "angry": {
        "brow_raise": -0.07,
        "brow_inner": -0.13,
        "eye_open": -0.40,
        "mouth_width": -0.15,
        "mouth_curve": -0.04,
        "wrinkle": 0.35,
    },
    "disgust": {
        "brow_raise": -0.04,
        "brow_inner": -0.05,
        "eye_open": -0.35,
        "mouth_curve": -0.06,
        "mouth_open": 0.03,
        "upper_lip": 0.09,
        "asym": 0.08,
        "wrinkle": 1.0,
        "folds": 0.7,
    },
    "fear": {
        "brow_raise": 0.09,
        "brow_inner": 0.07,
        "eye_open": 0.55,
        "mouth_width": 0.22,
        "mouth_curve": -0.05,
        "mouth_open": 0.09,
    },
    "happy": {
        "brow_raise": 0.02,
        "eye_open": -0.30,
        "mouth_width": 0.25,
        "mouth_curve": 0.16,
        "folds": 0.9,
    },
    "neutral": {},
    "sad": {
        "brow_inner": 0.12,
        "brow_raise": -0.01,
        "eye_open": -0.25,
        "mouth_width": -0.08,
        "mouth_curve": -0.12,
    },
    "surprise": {
        "brow_raise": 0.14,
        "brow_inner": 0.03,
        "eye_open": 0.70,
        "mouth_width": -0.40,
        "mouth_open": 0.30,
        "mouth_round": 1.0,
    },
}

# Per-image spread of each parameter around its expression value: people's
# resting faces differ (low brows, wide mouths), which blurs class borders.
_PARAM_SPREAD: dict[str, float] = {
    "brow_raise": 0.030,
    "brow_inner": 0.030,
    "eye_open": 0.15,
    "mouth_width": 0.08,
    "mouth_curve": 0.030,
    "mouth_open": 0.015,
    "mouth_round": 0.10,
    "upper_lip": 0.015,
    "asym": 0.015,
    "wrinkle": 0.10,
    "folds": 0.15,
}

# Expression intensity range: the low end makes a share of each class hard to
# tell from neutral, which is what keeps a good classifier below ~97%.
_INTENSITY_RANGE = (0.6, 1.5)

# Probability that a part of the face is hidden by a hand, a bar or a blob.
_OCCLUSION_PROB = 0.15
_GLASSES_PROB = 0.10

# Pose and image-quality nuisance.  Position and size jitter are what defeat a
# pixel-template classifier such as logistic regression; a CNN's pooling
# tolerates them.  Face sizes are fractions of the image width, the jitter is
# a fraction of the image size, blur is a Gaussian radius in output pixels and
# noise a standard deviation in gray levels.
_FACE_HALF_WIDTH = (0.34, 0.46)
_CENTER_JITTER = 0.10
_ROTATION_STD_DEGREES = 7.0
_BLUR_MAX = 0.8
_CONTRAST_RANGE = (0.7, 1.2)
_NOISE_MAX = 6.0


def class_counts(scale: float) -> dict[str, dict[str, int]]:
    """Return FER-2013's per-split, per-class image counts multiplied by ``scale``.

    Counts are rounded half up and never drop below 1, so every class folder
    exists even at tiny scales; disgust stays the minority class at any scale.
    """
    _check_scale(scale)
    return {
        split: {emotion: max(1, math.floor(FER2013_COUNTS[split][emotion] * scale + 0.5)) for emotion in EMOTIONS}
        for split in SPLITS
    }


def render_face(*, emotion: str, rng: np.random.Generator, image_size: int = 48) -> np.ndarray:
    """Draw one synthetic face showing ``emotion`` and return it as a uint8 array of shape (H, W).

    All randomness (expression intensity, identity, pose, lighting, noise,
    occlusion) comes from ``rng``, so a generator seeded the same way yields
    the same pixels.
    """
    if emotion not in EMOTIONS:
        raise ValueError(f"emotion={emotion!r} is unknown; use one of {', '.join(EMOTIONS)}")
    _check_image_size(image_size)

    params = _expression_params(emotion, rng)
    canvas_size = image_size * _SUPERSAMPLE

    # Background: a random gray level plus a large off-centre blob, like the
    # cluttered backgrounds and hair of real crops.
    background = int(rng.integers(20, 236))
    canvas = Image.new("L", (canvas_size, canvas_size), background)
    draw = ImageDraw.Draw(canvas)
    if rng.random() < 0.6:
        blob = _ellipse(rng.uniform(-1.0, 1.0, 2) * canvas_size, rng.uniform(0.2, 0.6, 2) * canvas_size, 0.0)
        draw.polygon(_flat(blob), fill=int(np.clip(background + rng.normal(0, 50), 0, 255)))

    # Pose: real FER-2013 crops are roughly face-centred and face-filling, but
    # far from aligned, so the face moves, scales and tilts per image.
    half_width = canvas_size * rng.uniform(*_FACE_HALF_WIDTH)
    center = canvas_size * (0.5 + rng.uniform(-_CENTER_JITTER, _CENTER_JITTER, 2))
    center[1] += canvas_size * 0.04
    angle = math.radians(rng.normal(0.0, _ROTATION_STD_DEGREES))
    pose = _Pose(center=center, scale=half_width, angle=angle)

    skin = int(rng.integers(90, 215))
    dark = max(0, skin - int(rng.integers(70, 110)))
    hair = int(rng.integers(0, 90)) if rng.random() < 0.8 else int(rng.integers(150, 230))
    aspect = rng.uniform(1.15, 1.40)

    # Hair behind the head and the neck go first so the face covers them.
    if rng.random() < 0.7:
        draw.polygon(_flat(pose.map(_ellipse((0.0, -0.15), (1.18, aspect + 0.05), 0.0))), fill=hair)
    neck = np.array([[-0.55, 0.5], [0.55, 0.5], [0.7, 2.0], [-0.7, 2.0]])
    draw.polygon(_flat(pose.map(neck)), fill=max(0, skin - 25))
    draw.polygon(_flat(pose.map(_ellipse((0.0, 0.0), (1.0, aspect), 0.0, points=40))), fill=skin)

    # Hair fringe: the part of the face ellipse above a random hairline.
    hairline = -aspect + rng.uniform(0.25, 0.65)
    cap = _ellipse((0.0, 0.0), (1.0, aspect), 0.0, points=40)
    cap = cap[cap[:, 1] < hairline]
    if len(cap) >= 3:
        draw.polygon(_flat(pose.map(cap)), fill=hair)

    _draw_eyes_and_brows(draw, pose, params, rng, skin=skin, dark=dark)
    _draw_nose(draw, pose, params, rng, skin=skin, dark=dark)
    _draw_mouth(draw, pose, params, rng, skin=skin, dark=dark)

    if rng.random() < _GLASSES_PROB:
        frame = int(rng.integers(0, 60))
        width = max(1, round(0.05 * half_width))
        for side in (-1.0, 1.0):
            ring = pose.map(_ellipse((0.40 * side, -0.18), (0.24, 0.17), 0.0))
            draw.line(_flat(np.vstack([ring, ring[:1]])), fill=frame, width=width)
        draw.line(_flat(pose.map(np.array([[-0.16, -0.2], [0.16, -0.2]]))), fill=frame, width=width)

    if rng.random() < _OCCLUSION_PROB:
        _draw_occluder(draw, pose, rng)

    image = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    blur = rng.uniform(0.0, _BLUR_MAX)
    if blur > 0.25:
        image = image.filter(ImageFilter.GaussianBlur(blur))

    # Lighting: a linear illumination gradient, then contrast and brightness,
    # then sensor noise, all in float so nothing wraps around before clipping.
    pixels = np.asarray(image, dtype=np.float32)
    ramp = np.linspace(-1.0, 1.0, image_size, dtype=np.float32)
    gx, gy = rng.normal(0.0, 18.0, 2)
    pixels = pixels + gx * ramp[None, :] + gy * ramp[:, None]
    mean = float(pixels.mean())
    pixels = (pixels - mean) * rng.uniform(*_CONTRAST_RANGE) + mean + rng.normal(0.0, 15.0)
    pixels = pixels + rng.normal(0.0, rng.uniform(0.0, _NOISE_MAX), pixels.shape).astype(np.float32)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def synthesize_dataset(
    *, out_dir: Path, scale: float, seed: int, image_size: int = 48, junk_files: bool = True
) -> dict[str, Any]:
    """Write a synthetic FER-2013-style dataset to ``out_dir`` and return a summary.

    ``out_dir`` is replaced as a whole, atomically: the set is written to a
    temporary sibling and swapped in only once complete, so an interrupted run
    leaves the previous contents untouched.  With ``junk_files`` the train
    split also receives a few files a cleaning step must reject (text, GIF,
    ``Thumbs.db``, empty and truncated JPEGs, a PNG holding text); they are not
    part of the counts.

    The summary holds ``counts`` (split -> emotion -> images written),
    ``n_images``, ``junk_files`` (paths relative to ``out_dir``), ``scale``,
    ``seed`` and ``image_size``.  It holds no timing, so it is deterministic too.
    """
    counts = class_counts(scale)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer; pass e.g. seed=42")
    _check_image_size(image_size)

    junk: list[str] = []
    with atomic_dir(out_dir) as tmp:
        for split_id, split in enumerate(SPLITS):
            for emotion_id, emotion in enumerate(EMOTIONS):
                folder = tmp / split / emotion
                folder.mkdir(parents=True)
                for index in range(counts[split][emotion]):
                    # A generator per image, keyed by its coordinates, makes each
                    # file independent of generation order and of the other counts.
                    rng = np.random.default_rng([seed, split_id, emotion_id, index])
                    pixels = render_face(emotion=emotion, rng=rng, image_size=image_size)
                    (folder / f"im{index:06d}.jpg").write_bytes(_encode_jpeg(pixels))
        if junk_files:
            junk = _write_junk(tmp, seed=seed, image_size=image_size)

    return {
        "counts": counts,
        "n_images": sum(sum(per_class.values()) for per_class in counts.values()),
        "junk_files": junk,
        "scale": scale,
        "seed": int(seed),
        "image_size": image_size,
    }


class _Pose:
    """Maps face coordinates (x right, y down, 1.0 = half the face width) to canvas pixels."""

    def __init__(self, *, center: np.ndarray, scale: float, angle: float) -> None:
        cos, sin = math.cos(angle), math.sin(angle)
        self._matrix = scale * np.array([[cos, -sin], [sin, cos]])
        self._center = center

    def map(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) @ self._matrix.T + self._center


def _expression_params(emotion: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw this image's expression parameters: class offsets times an intensity, plus personal spread."""
    intensity = rng.uniform(*_INTENSITY_RANGE)
    offsets = _EXPRESSION_OFFSETS[emotion]
    params = {name: offsets.get(name, 0.0) * intensity + rng.normal(0.0, _PARAM_SPREAD[name]) for name in _PARAM_NAMES}
    # Happy and fear faces open the mouth only sometimes (a closed-lip smile
    # is as common as a laugh), so the opening is a per-image coin flip.
    if emotion == "happy" and rng.random() < 0.5:
        params["mouth_open"] += rng.uniform(0.06, 0.16) * intensity
    if emotion == "angry" and rng.random() < 0.25:
        params["mouth_open"] += rng.uniform(0.04, 0.10) * intensity
    # Disgust's sneer lifts one side of the upper lip; which side is random.
    if rng.random() < 0.5:
        params["asym"] = -params["asym"]
    params["mouth_open"] = max(0.0, params["mouth_open"])
    params["mouth_round"] = float(np.clip(params["mouth_round"], 0.0, 1.0))
    params["wrinkle"] = float(np.clip(params["wrinkle"], 0.0, 1.0))
    params["folds"] = float(np.clip(params["folds"], 0.0, 1.0))
    params["teeth"] = float(emotion in ("happy", "angry", "fear") and rng.random() < 0.7)
    return params


def _draw_eyes_and_brows(
    draw: ImageDraw.ImageDraw, pose: _Pose, params: dict[str, float], rng: np.random.Generator, *, skin: int, dark: int
) -> None:
    eye_y = -0.18 + rng.normal(0.0, 0.03)
    eye_x = 0.38 + rng.normal(0.0, 0.025)
    eye_w = 0.16 + rng.normal(0.0, 0.012)
    eye_h = max(0.015, 0.085 * (1.0 + params["eye_open"]))
    socket = max(0, skin - int(rng.integers(15, 40)))
    sclera = min(255, skin + int(rng.integers(10, 50)))
    iris = max(0, dark - 20)
    brow_thickness = rng.uniform(0.07, 0.11)
    brow_color = max(0, dark - int(rng.integers(0, 40)))
    brow_gap = 0.17 + params["brow_raise"] + rng.normal(0.0, 0.02)
    for side in (-1.0, 1.0):
        cx = eye_x * side
        draw.polygon(_flat(pose.map(_ellipse((cx, eye_y - 0.02), (eye_w * 1.35, eye_h + 0.07), 0.0))), fill=socket)
        draw.polygon(_flat(pose.map(_ellipse((cx, eye_y), (eye_w, eye_h), 0.0))), fill=sclera)
        # The iris cannot be taller than the eye opening; clamping its height
        # stands in for clipping it by the lids.
        draw.polygon(_flat(pose.map(_ellipse((cx, eye_y), (0.075, min(0.075, eye_h)), 0.0))), fill=iris)
        # A dark upper lid line is what makes a blob read as an eye at 48 px.
        t = np.linspace(-1.0, 1.0, 9)
        lid = np.stack([cx + eye_w * t, eye_y - eye_h * np.sqrt(1.0 - t**2)], axis=1)
        draw.polygon(_flat(pose.map(_band(lid, 0.03))), fill=dark)

        # Brow: a thick band from the inner end (near the nose) to the outer
        # end; raising only the inner end gives sad/fear, lowering it gives anger.
        inner = np.array([side * 0.14, eye_y - brow_gap - params["brow_inner"]])
        outer = np.array([side * 0.64, eye_y - brow_gap + 0.03])
        t = np.linspace(0.0, 1.0, 7)[:, None]
        arch = 0.04 * np.sin(np.pi * t[:, 0])
        brow = inner + t * (outer - inner)
        brow[:, 1] -= arch
        draw.polygon(_flat(pose.map(_band(brow, brow_thickness))), fill=brow_color)


def _draw_nose(
    draw: ImageDraw.ImageDraw, pose: _Pose, params: dict[str, float], rng: np.random.Generator, *, skin: int, dark: int
) -> None:
    nose_y = 0.28 + rng.normal(0.0, 0.03)
    shade = (skin + dark) // 2
    side_x = 0.09 + rng.normal(0.0, 0.01)
    ridge = np.array([[side_x, -0.05], [side_x + 0.02, nose_y - 0.08], [side_x + 0.07, nose_y]])
    draw.polygon(_flat(pose.map(_band(ridge, 0.035))), fill=shade)
    for side in (-1.0, 1.0):
        draw.polygon(_flat(pose.map(_ellipse((0.07 * side, nose_y + 0.03), (0.045, 0.025), 0.0))), fill=dark)
    # Wrinkles: short horizontal creases across the bridge, stronger and more
    # numerous as the wrinkle parameter grows (disgust, some anger).
    if params["wrinkle"] > 0.2:
        crease = int(skin - (skin - dark) * min(1.0, params["wrinkle"]))
        for k in range(1 + int(params["wrinkle"] * 2.5)):
            y = -0.02 + 0.07 * k
            line = np.array([[-0.13, y + 0.015], [0.0, y - 0.01], [0.13, y + 0.015]])
            draw.polygon(_flat(pose.map(_band(line, 0.03))), fill=crease)
    # Nasolabial folds: curves from the nose wings to past the mouth corners,
    # deepened by smiling (happy) and sneering (disgust).
    if params["folds"] > 0.2:
        fold_color = int(skin - (skin - dark) * 0.8 * min(1.0, params["folds"]))
        for side in (-1.0, 1.0):
            fold = np.array([[0.16 * side, nose_y - 0.02], [0.30 * side, nose_y + 0.15], [0.36 * side, 0.68]])
            draw.polygon(_flat(pose.map(_band(fold, 0.03))), fill=fold_color)


def _draw_mouth(
    draw: ImageDraw.ImageDraw, pose: _Pose, params: dict[str, float], rng: np.random.Generator, *, skin: int, dark: int
) -> None:
    mouth_y = 0.62 + rng.normal(0.0, 0.03)
    half_width = max(0.08, 0.33 * (1.0 + params["mouth_width"]))
    lip = max(0, skin - int(rng.integers(20, 60)))
    t = np.linspace(-1.0, 1.0, 17)
    # Lip line: corners lifted by mouth_curve (a parabola, so the centre stays
    # put) and tilted by asym.  The opening follows a blend of a lens shape and
    # an ellipse; the upper lip rises further with upper_lip, on the asym side.
    base = mouth_y - params["mouth_curve"] * t**2 - params["asym"] * t
    shape = (1.0 - params["mouth_round"]) * (1.0 - t**2) + params["mouth_round"] * np.sqrt(1.0 - t**2)
    sneer = params["upper_lip"] * (1.0 - t**2) * (1.0 + np.sign(params["asym"]) * 0.6 * t)
    opening = params["mouth_open"]
    upper = np.stack([half_width * t, base - opening * 0.4 * shape - sneer], axis=1)
    lower = np.stack([half_width * t, base + opening * 0.6 * shape], axis=1)
    lip_thickness = rng.uniform(0.035, 0.07)
    if opening + params["upper_lip"] > 0.03:
        # Lips as darker rims around a dark cavity, teeth as a light band at the top.
        draw.polygon(_flat(pose.map(_band(upper, lip_thickness * 1.6))), fill=lip)
        draw.polygon(_flat(pose.map(_band(lower, lip_thickness * 1.8))), fill=lip)
        cavity = np.vstack([upper, lower[::-1]])
        draw.polygon(_flat(pose.map(cavity)), fill=max(0, dark - 30))
        if params["teeth"] and opening > 0.05:
            teeth = np.vstack([upper, (upper + 0.35 * (lower - upper))[::-1]])
            draw.polygon(_flat(pose.map(teeth)), fill=min(255, skin + 40))
    else:
        # Closed mouth: lips as one band with a thin dark line where they meet.
        line = np.stack([half_width * t, base], axis=1)
        draw.polygon(_flat(pose.map(_band(line, lip_thickness * 2.2))), fill=lip)
        draw.polygon(_flat(pose.map(_band(line, lip_thickness * 0.6))), fill=dark)


def _draw_occluder(draw: ImageDraw.ImageDraw, pose: _Pose, rng: np.random.Generator) -> None:
    """Hide part of the face behind a bar (hair strand, microphone) or a blob (hand)."""
    color = int(rng.integers(0, 256))
    where = (rng.uniform(-0.8, 0.8), rng.uniform(-0.6, 0.9))
    if rng.random() < 0.5:
        bar = _ellipse(where, (rng.uniform(0.6, 1.4), rng.uniform(0.08, 0.18)), rng.uniform(0, math.pi), points=4)
        draw.polygon(_flat(pose.map(bar)), fill=color)
    else:
        blob = _ellipse(where, tuple(rng.uniform(0.25, 0.5, 2)), rng.uniform(0, math.pi))
        draw.polygon(_flat(pose.map(blob)), fill=color)


def _ellipse(center: Any, radii: Any, angle: float, *, points: int = 20) -> np.ndarray:
    """Return ``points`` vertices of an ellipse (a rectangle-like diamond when ``points`` is 4)."""
    phi = np.linspace(0.0, 2.0 * math.pi, points, endpoint=False)
    if points == 4:
        phi = phi + math.pi / 4
    x = radii[0] * np.cos(phi)
    y = radii[1] * np.sin(phi)
    cos, sin = math.cos(angle), math.sin(angle)
    return np.stack([center[0] + cos * x - sin * y, center[1] + sin * x + cos * y], axis=1)


def _band(curve: np.ndarray, thickness: float) -> np.ndarray:
    """Return a polygon covering ``curve`` with the given vertical thickness (face units)."""
    offset = np.array([0.0, thickness / 2.0])
    return np.vstack([curve - offset, (curve + offset)[::-1]])


def _flat(points: np.ndarray) -> list[float]:
    """Flatten an (N, 2) array into the x0, y0, x1, y1, ... list that ImageDraw accepts."""
    return points.ravel().tolist()


def _encode_jpeg(pixels: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) array as a grayscale JPEG with fixed settings and no metadata."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def _write_junk(root: Path, *, seed: int, image_size: int) -> list[str]:
    """Drop files a cleaning step must reject into two train folders; return their relative paths."""
    rng = np.random.default_rng([seed, len(SPLITS), len(EMOTIONS), 0])
    valid_jpeg = _encode_jpeg(render_face(emotion="happy", rng=rng, image_size=image_size))
    gif = io.BytesIO()
    Image.fromarray(render_face(emotion="sad", rng=rng, image_size=image_size), mode="L").save(gif, format="GIF")
    junk: dict[str, bytes] = {
        "train/happy/notes.txt": b"Downloaded from the FER-2013 page; remember to remove this file.\n",
        "train/happy/im_anim.gif": gif.getvalue(),
        "train/happy/Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
        "train/sad/im_empty.jpg": b"",
        # Half a JPEG keeps a valid header, so it opens but fails to decode.
        "train/sad/im_truncated.jpg": valid_jpeg[: len(valid_jpeg) // 2],
        "train/sad/im_text.png": b"this is not a PNG image, just text with a .png name\n",
    }
    for relative, content in junk.items():
        (root / relative).write_bytes(content)
    return sorted(junk)


def _check_scale(scale: float) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale={scale!r} must be a positive finite number; use e.g. 0.5 for half of FER-2013")


def _check_image_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size={image_size!r} must be an integer >= 16; FER-2013 uses 48")


__all__ = ["FER2013_COUNTS", "SPLITS", "class_counts", "render_face", "synthesize_dataset"]
