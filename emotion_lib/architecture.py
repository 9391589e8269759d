"""Architecture constants of the study's models, without TensorFlow, so that config validation stays instant.

The model factory (:mod:`emotion_lib.models`) builds from these, and
:mod:`emotion_lib.config` validates params against them, so each fact lives once.
"""

from __future__ import annotations

import dataclasses

# Filters of the five 3x3 convolutions of the from-scratch stack (the original study, table of section 5.1).
# Every convolution but the last is followed by a 2x2 max-pool.
SCRATCH_FILTERS: tuple[int, ...] = (32, 64, 128, 256, 256)
PADDINGS: tuple[str, ...] = ("valid", "same")
# scratch: the original study's five-convolution CNN; vgg16: its transfer learning; vgg_bn: the VGG-style
# BatchNorm network of the vgg_bn trial (docs/vgg_bn-recipe.md), widths and depth set by its params.
BACKBONES: tuple[str, ...] = ("scratch", "vgg16", "vgg_bn")

# Augmentation of the original study, section 4.5: flip half the images, rotate by up to 10 % of a full circle,
# zoom in or out by up to 20 %. Trials may set their own (the vgg_bn trial uses smaller, face-sized ones).
ROTATION_FACTOR = 0.1
ZOOM_FACTOR = 0.2

# Kernel initialisers of the from-scratch CNN: Keras' default (the original study's) and He's, made for ReLU stacks.
INITIALIZERS: tuple[str, ...] = ("glorot_uniform", "he_normal")
# The first layer's Rescaling: "unit" maps pixels to [0, 1] (the original study's 1/255), "centered" to [-1, 1].
INPUT_SCALINGS: dict[str, tuple[float, float]] = {"unit": (1.0 / 255, 0.0), "centered": (1.0 / 127.5, -1.0)}

# VGG16 has five pooling stages, so 32 px is the smallest input Keras accepts for its conv base.
VGG16_MIN_INPUT_SIZE = 32
VGG16_BLOCKS: tuple[str, ...] = ("block1", "block2", "block3", "block4", "block5")


def scratch_output_size(size: int, padding: str) -> int:
    """Spatial size after the from-scratch stack for a ``size`` px input, or 0 if some layer gets an empty input."""
    for index in range(len(SCRATCH_FILTERS)):
        size = size - 2 if padding == "valid" else size
        if size < 1:
            return 0
        if index < len(SCRATCH_FILTERS) - 1:
            size //= 2  # max-pool 2x2, stride 2, valid: floor division
            if size < 1:
                return 0
    return size


def min_input_size(padding: str) -> int:
    """Smallest square input (pixels) the from-scratch stack can process with ``padding`` (78 valid, 16 same).

    Computed by walking the stack rather than hard-coded, so it stays right if
    :data:`SCRATCH_FILTERS` changes: with ``valid`` padding every convolution
    trims 2 px, and the last convolution still needs a 3x3 input.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {list(PADDINGS)}, got {padding!r}")
    size = 1
    while scratch_output_size(size, padding) < 1:
        size += 1
    return size


# --- Model specs: what each backbone's builder in emotion_lib.models receives, resolved from params.yaml. ---------


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation: a random horizontal flip, then translation (``shift``, a fraction of the side),
    rotation (a fraction of a full circle), zoom and random erasing (the probability of one noise patch), each where
    non-zero.  The defaults are the original study's (flip, rotation 0.1, zoom 0.2)."""

    enabled: bool = False
    shift: float = 0.0
    rotation: float = ROTATION_FACTOR
    zoom: float = ZOOM_FACTOR
    erasing: float = 0.0


@dataclasses.dataclass(frozen=True)
class ScratchSpec:
    """The original study's five-convolution CNN (sections 5.1-5.5) and its regularised variants; the defaults are
    the study's own (valid padding, Glorot initialisation, inputs scaled to [0, 1])."""

    image_size: int
    channels: int
    padding: str = "valid"
    initializer: str = "glorot_uniform"
    input_scaling: str = "unit"
    augmentation: Augmentation = Augmentation()
    flatten_dropout: float = 0.0
    block_dropout: float = 0.0
    dense_units: int = 0
    l2: float = 0.0


@dataclasses.dataclass(frozen=True)
class VGG16Spec:
    """The original study's transfer learning (section 6.1): a frozen VGG16 base and a small head."""

    image_size: int
    dense_units: int
    head_dropout: float = 0.0
    augmentation: Augmentation = Augmentation()
    channels: int = 3  # VGG16 takes RGB; grayscale inputs are replicated by the input pipeline
    # The conv base's weights (the `weights` stage's file; see emotion_lib.pretrained); None: seeded random ones.
    weights_path: str | None = None


@dataclasses.dataclass(frozen=True)
class VggBnSpec:
    """A VGG-style network with batch normalisation at FER-2013's own 48x48x1 (the vgg_bn trial)."""

    image_size: int = 48
    widths: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_block: int = 2
    dense_units: int = 256
    dropout: float = 0.4
    augmentation: Augmentation = Augmentation()
    channels: int = 1


ModelSpec = ScratchSpec | VGG16Spec | VggBnSpec
