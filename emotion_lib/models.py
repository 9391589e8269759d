"""Model factory: one builder per backbone, behind :func:`build_model`'s dispatch on the trial's spec.

Each backbone's spec (:mod:`emotion_lib.architecture`: the original study's
from-scratch CNN, its VGG16 transfer learning, and vgg_bn) is built with the
Keras Functional API by its own builder; :func:`build_model` adds what every
model shares (input, augmentation, classifier).  :func:`unfreeze_blocks` prepares a saved
feature-extraction model for fine-tuning, and :func:`load_model` reloads any
saved model in Keras safe mode (the custom layers, :class:`VGG16Preprocess` and
:class:`FusedBatchNormalization`, are registered here, so importing this module is
what makes safe loading work).

Layer names are spelled out (``block1_conv``, ``flatten_dropout``, ...) so that
a saved model is readable and so that tests and fine-tuning can address layers
by name instead of by Keras' auto-generated counters.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotion_lib import quiet_tensorflow  # noqa: F401 - first: TensorFlow's start-up lines stay out of stderr

# isort: split
import keras
import numpy as np

from emotion_lib.architecture import (
    INPUT_SCALINGS,
    SCRATCH_FILTERS,
    VGG16_BLOCKS,
    Augmentation,
    ModelSpec,
    ScratchSpec,
    VGG16Spec,
    VggBnSpec,
)
from emotion_lib.errors import UserError, why_not_a_file

# Channel means of ImageNet in BGR order, as used by keras.applications.vgg16.preprocess_input ("caffe" mode).
VGG16_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)



@keras.saving.register_keras_serializable(package="emotion_lib")
class VGG16Preprocess(keras.layers.Layer):
    """``keras.applications.vgg16.preprocess_input`` as a weightless, serialisable layer.

    Converts RGB pixel values in 0..255 to BGR and subtracts the ImageNet channel
    means.  A registered layer instead of a ``Lambda`` so that the model can be
    loaded with ``safe_mode=True`` (Lambda layers hold pickled Python code).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(VGG16_BGR_MEAN, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="emotion_lib")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras' ``BatchNormalization`` computed by TensorFlow's fused kernel on image tensors.

    Same maths, arguments and weights as the parent; only the kernels differ.  Keras 3 normalises with a chain of
    separate ops (float32 moments, then scale and shift, then a cast back) and differentiates each; TensorFlow's
    ``FusedBatchNormV3`` (oneDNN's on x86) does the forward pass and its gradient in one kernel each.  vgg_bn's
    AVX-512 recipe trained 1.4-1.5 times faster with it on 2 CPU cores in mixed_bfloat16 (docs/vgg_bn-recipe.md);
    without batch norm at all the convolutions alone trained about 1.8 times faster than with Keras' layer.

    The moving variance is updated with the batch's biased variance, as the parent does (the fused kernel returns
    the unbiased one).  Anything the fused kernel cannot do falls back to the parent's ``call``: another backend,
    tensors that are not 4-D channels-last, masks, renormalisation and synchronised statistics.
    """

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                and self.axis in (-1, 3) and mask is None and not self.renorm and not self.synchronized)

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        if inputs.dtype == tf.bfloat16 and channels % 16:
            # oneDNN's bfloat16 kernel is fast only on channel counts its AVX-512 blocking divides: with 24 it made
            # the default widths' training slower than Keras' layer, in float32 1.3 times faster (README).
            inputs = tf.cast(inputs, "float32")
        scale = self.gamma if self.scale else tf.ones((channels,), "float32")
        offset = self.beta if self.center else tf.zeros((channels,), "float32")
        if training and self.trainable:
            outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, scale, offset, epsilon=self.epsilon, is_training=True)
            count = tf.cast(tf.size(inputs) // channels, "float32")
            variance = unbiased_variance * (count - 1.0) / count
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs = tf.compat.v1.nn.fused_batch_norm(
                inputs, scale, offset, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, is_training=False)[0]
        return keras.ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="emotion_lib")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels smoothed towards uniform (Szegedy et al. 2016).

    Keras' sparse cross-entropy has no ``label_smoothing``; this one-hot encodes
    the labels and uses the categorical loss's.  Registered here, beside the
    model's other custom objects, so a compiled model loads in safe mode.
    """

    def __init__(self, label_smoothing: float = 0.0, num_classes: int = 7,
                 name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = int(num_classes)

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "num_classes": self.num_classes}


class _SeedStream:
    """Hands out distinct, reproducible integer seeds for the seeded layers of one model.

    Every random layer (initialiser, dropout, augmentation) gets its own seed
    derived from the model seed, so the model is reproducible without relying
    on global random state and no two layers draw the same random stream.
    """

    def __init__(self, seed: int):
        self._sequence = np.random.SeedSequence(seed)

    def next(self) -> int:
        child = self._sequence.spawn(1)[0]
        return int(child.generate_state(1)[0] % (2**31 - 1))


def build_model(spec: ModelSpec, *, num_classes: int, seed: int = 0) -> keras.Model:
    """Build one trial's (uncompiled) model from its backbone's spec: the one dispatch onto one builder per backbone.

    Every model is Input -> [augmentation] -> the backbone's layers -> Dense(num_classes, softmax); inputs are raw
    pixel values in 0..255 and the model does its own scaling.  The specs come validated from
    :meth:`emotion_lib.config.TrialConfig.model_spec`; every random layer is seeded from ``seed``, in the order the
    layers are built.
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise UserError(f"the number of classes must be an integer >= 2, got {num_classes!r} (check data/meta.json)")
    seeds = _SeedStream(seed)
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, spec.channels), name="image")
    x = _augmentation(inputs, spec.augmentation, seeds)
    x, name = BUILDERS[type(spec)](x, spec, seeds)
    return keras.Model(inputs, _classifier(x, num_classes, seeds), name=name)


def _scratch_backbone(x, spec: ScratchSpec, seeds: _SeedStream) -> tuple[Any, str]:
    """The original study's CNN: Rescaling (``input_scaling``: to [0, 1], the study's 1/255, or to [-1, 1]) -> five
    3x3 ReLU convolutions (32, 64, 128, 256, 256 filters), each but the last followed by a 2x2 max-pool, each
    optionally followed by ``Dropout(block_dropout)`` -> Flatten -> [Dropout(flatten_dropout)] ->
    [Dense(dense_units, ReLU, L2(l2))].

    ``initializer`` sets the ReLU layers' kernel initialiser: ``glorot_uniform`` (Keras' default, the study's) or
    ``he_normal`` (He et al. 2015: it keeps the activations' scale through the five convolutions, where Glorot
    shrinks it about threefold per layer; docs, "The study on real faces").
    """
    scale, offset = INPUT_SCALINGS[spec.input_scaling]
    x = keras.layers.Rescaling(scale, offset=offset, name="rescaling")(x)
    for index, filters in enumerate(SCRATCH_FILTERS, start=1):
        x = keras.layers.Conv2D(filters, (3, 3), padding=spec.padding, activation="relu",
                                kernel_initializer=_initializer(spec.initializer, seeds), name=f"block{index}_conv")(x)
        # The study's L2 trial puts the dropout right after each convolution, before the pooling.
        if spec.block_dropout > 0:
            x = keras.layers.Dropout(spec.block_dropout, seed=seeds.next(), name=f"block{index}_dropout")(x)
        if index < len(SCRATCH_FILTERS):
            x = keras.layers.MaxPooling2D((2, 2), name=f"block{index}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if spec.flatten_dropout > 0:
        x = keras.layers.Dropout(spec.flatten_dropout, seed=seeds.next(), name="flatten_dropout")(x)
    if spec.dense_units > 0:
        x = _dense_hidden(x, spec.dense_units, spec.initializer, seeds, l2=spec.l2)
    return x, "scratch_cnn"


def _vgg16_backbone(x, spec: VGG16Spec, seeds: _SeedStream) -> tuple[Any, str]:
    """The original study's transfer learning: :class:`VGG16Preprocess` -> frozen VGG16 conv base (a nested model
    named ``"vgg16"``, with the weights in ``spec.weights_path`` or seeded random ones) -> Flatten ->
    Dense(dense_units, ReLU) -> [Dropout(head_dropout)]; the head keeps Glorot."""
    x = VGG16Preprocess(name="vgg16_preprocess")(x)
    base = build_vgg16_base(image_size=spec.image_size, weights_path=spec.weights_path, seed=seeds.next())
    base.trainable = False
    # training=False keeps the frozen base in inference mode even after fine-tuning unfreezes
    # some of its layers; VGG16 has no BatchNorm or Dropout, so this is a safeguard, not a behaviour change.
    x = base(x, training=False)
    x = keras.layers.Flatten(name="flatten")(x)
    x = _dense_hidden(x, spec.dense_units, "glorot_uniform", seeds)
    if spec.head_dropout > 0:
        x = keras.layers.Dropout(spec.head_dropout, seed=seeds.next(), name="head_dropout")(x)
    return x, "vgg16_transfer"


def _vgg_bn_backbone(x, spec: VggBnSpec, seeds: _SeedStream) -> tuple[Any, str]:
    """Rescaling to [-1, 1] -> one block per entry of ``widths``, each ``convs_per_block`` x (3x3 Conv, same
    padding, no bias -> BatchNorm -> ReLU) then a 2x2 max-pool -> Flatten -> [Dense(dense_units, no bias) ->
    BatchNorm -> ReLU -> Dropout(dropout)].  The VGG-with-BatchNorm family of Khaireddin & Chen (2021), sized for a
    CPU."""
    scale, offset = INPUT_SCALINGS["centered"]
    x = keras.layers.Rescaling(scale, offset=offset, name="rescaling")(x)
    for block, width in enumerate(spec.widths, start=1):
        for index in range(1, spec.convs_per_block + 1):
            # No bias: the BatchNorm right after has its own shift.
            x = keras.layers.Conv2D(int(width), (3, 3), padding="same", use_bias=False,
                                    kernel_initializer=_initializer("he_normal", seeds),
                                    name=f"block{block}_conv{index}")(x)
            x = FusedBatchNormalization(name=f"block{block}_bn{index}")(x)
            x = keras.layers.ReLU(name=f"block{block}_relu{index}")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if spec.dense_units > 0:
        x = keras.layers.Dense(spec.dense_units, use_bias=False, kernel_initializer=_initializer("he_normal", seeds),
                               name="dense_hidden")(x)
        x = keras.layers.BatchNormalization(name="dense_bn")(x)
        x = keras.layers.ReLU(name="dense_relu")(x)
        if spec.dropout > 0:
            x = keras.layers.Dropout(spec.dropout, seed=seeds.next(), name="head_dropout")(x)
    return x, "vgg_bn"


# One builder per backbone spec.
BUILDERS = {ScratchSpec: _scratch_backbone, VggBnSpec: _vgg_bn_backbone, VGG16Spec: _vgg16_backbone}


def _augmentation(x, augmentation: Augmentation, seeds: _SeedStream):
    """Seeded random flip, [translation], [rotation], [zoom], [erasing]; Keras applies them only when training.

    The study's layers (flip, rotation, zoom) keep Keras' default reflect fill, so its trials are unchanged; the
    translation fills with the nearest edge pixels, which on a face crop looks like more face rather than a mirror.
    """
    if not augmentation.enabled:
        return x
    x = keras.layers.RandomFlip("horizontal", seed=seeds.next(), name="augment_flip")(x)
    if augmentation.shift > 0:
        x = keras.layers.RandomTranslation(augmentation.shift, augmentation.shift, fill_mode="nearest",
                                           seed=seeds.next(), name="augment_shift")(x)
    if augmentation.rotation > 0:
        x = keras.layers.RandomRotation(augmentation.rotation, seed=seeds.next(), name="augment_rotation")(x)
    if augmentation.zoom > 0:
        x = keras.layers.RandomZoom(augmentation.zoom, seed=seeds.next(), name="augment_zoom")(x)
    if augmentation.erasing > 0:
        # One patch of 2-20 % of the image, filled with noise, with probability `erasing` (Zhong et al. 2020).
        # A (p, p) factor: Keras reads a single float p as "a probability drawn from [0, p] per image", which
        # erases p / 2 of the images on average, not p.
        x = keras.layers.RandomErasing(factor=(augmentation.erasing, augmentation.erasing), scale=(0.02, 0.2),
                                       value_range=(0, 255), seed=seeds.next(), name="augment_erasing")(x)
    return x


def _dense_hidden(x, units: int, initializer: str, seeds: _SeedStream, l2: float = 0.0):
    """The hidden Dense(units, ReLU) of the original study's heads, L2-regularised when ``l2`` > 0."""
    return keras.layers.Dense(units, activation="relu",
                              kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
                              kernel_initializer=_initializer(initializer, seeds), name="dense_hidden")(x)


def _classifier(x, num_classes: int, seeds: _SeedStream):
    """Dense softmax over the classes; float32 even under a mixed-precision policy, so probabilities stay exact."""
    # He's scaling is derived for ReLU layers; the softmax classifier keeps Glorot in every trial.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                              kernel_initializer=_initializer("glorot_uniform", seeds), name="classifier")(x)


def _initializer(name: str, seeds: _SeedStream) -> keras.initializers.Initializer:
    """A seeded kernel initialiser by name (see :data:`emotion_lib.architecture.INITIALIZERS`)."""
    if name == "he_normal":
        return keras.initializers.HeNormal(seed=seeds.next())
    return keras.initializers.GlorotUniform(seed=seeds.next())


def build_vgg16_base(*, image_size: int, weights_path: str | Path | None, seed: int) -> keras.Model:
    """The VGG16 conv base (no top) named ``"vgg16"``, with weights from a file or seeded random ones.

    ``weights=None`` is passed to Keras so that building never touches the
    network; ImageNet weights arrive as a file prepared by
    :func:`emotion_lib.pretrained.resolve_vgg16_weights`.
    """
    # An explicitly named input: Keras would otherwise name it "input_layer_<n>" from a process-wide counter,
    # and that name is stored in the weights file, which then differs between otherwise identical runs.
    base_input = keras.Input(shape=(image_size, image_size, 3), name="vgg16_input")
    base = keras.applications.VGG16(include_top=False, weights=None, input_tensor=base_input, name="vgg16")
    if weights_path is None:
        initialize_vgg16_randomly(base, seed)
        return base
    path = Path(weights_path)
    if not path.is_file():
        raise UserError(
            f"VGG16 weights file {str(path)!r} does not exist: run the stage that resolves pretrained.weights first"
        )
    try:
        base.load_weights(str(path))
    except Exception as error:  # Keras raises many types (ValueError, KeyError, OSError) for bad files.
        # Keras' message can run over many lines; the first one names the problem, and stage CLIs print one line.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(
            f"cannot load VGG16 (no top) weights from {str(path)!r}: {first_line}; "
            "point pretrained.weights at a Keras .h5 weights file of VGG16 without its top"
        ) from error
    return base


def initialize_vgg16_randomly(base: keras.Model, seed: int) -> None:
    """Set every kernel of ``base`` to Glorot-uniform values drawn from NumPy with ``seed``, biases to 0.

    Keras' own initialisers of ``keras.applications.VGG16`` cannot be seeded,
    so the random fallback would otherwise differ between runs.  This matches
    the Keras default initialisation (Glorot uniform kernels, zero biases) and is
    byte-for-byte reproducible for a given seed, independent of global state.
    """
    rng = np.random.default_rng(seed)
    for layer in base.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel, bias = weights
        receptive = int(np.prod(kernel.shape[:-2]))
        fan_in, fan_out = receptive * kernel.shape[-2], receptive * kernel.shape[-1]
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        new_kernel = rng.uniform(-limit, limit, size=kernel.shape).astype(kernel.dtype)
        layer.set_weights([new_kernel, np.zeros_like(bias)])


def unfreeze_blocks(model: keras.Model, blocks: Sequence[str]) -> None:
    """Make the layers of the given VGG16 ``blocks`` (e.g. ``["block5"]``) trainable, keep the rest frozen.

    Works on a model built by :func:`build_model` with ``backbone="vgg16"`` or
    loaded from one.  The head stays trainable.  Recompile afterwards (
    :func:`emotion_lib.training.train_trial` does) for the change to take effect.
    """
    if isinstance(blocks, str):
        raise ValueError(f"blocks must be a list of block names, got the string {blocks!r}")
    unknown = [block for block in blocks if block not in VGG16_BLOCKS]
    if unknown:
        raise UserError(f"unknown VGG16 block(s) {unknown} in trials.<name>.unfreeze: choose from {list(VGG16_BLOCKS)}")
    try:
        base = model.get_layer("vgg16")
    except ValueError as error:
        raise UserError(
            f"model {model.name!r} has no nested 'vgg16' layer; fine-tuning needs the model of the vgg16 "
            "feature-extraction trial"
        ) from error
    # Setting the nested model trainable first is required: a frozen container hides its layers' flags.
    base.trainable = True
    wanted = tuple(f"{block}_" for block in blocks)
    for layer in base.layers:
        layer.trainable = layer.name.startswith(wanted)


def fold_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """``model`` with its softmax classifier's logits divided by ``temperature`` (in place; also returned).

    softmax((W x + b) / T) = softmax((W / T) x + b / T), so the classifier's kernel and bias are divided and the
    model's scores become the temperature-scaled ones (:func:`emotion_lib.calibration.apply_temperature`, per
    view), with the same predicted labels and no new layer (a copy exported to ONNX carries it too).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    classifier = model.get_layer("classifier")
    classifier.set_weights([weight / np.float32(temperature) for weight in classifier.get_weights()])
    return model


def ensemble_model(members: Sequence[keras.Model], name: str = "ensemble") -> keras.Model:
    """One model whose scores are the softmax of its ``members``' mean logits, with one ``classifier`` layer.

    Each member's classifier is softmax(W_i f_i + b_i) over its own features f_i; the ensemble concatenates the
    features and holds one Dense softmax layer with kernel [W_1; ...; W_n] / n and bias mean(b_i), so
    softmax([f_1, ..., f_n] W + b) = softmax(mean_i(W_i f_i + b_i)) exactly (the geometric mean of the members'
    probabilities, renormalised). Being a model like any trial's, it is calibrated by :func:`fold_temperature`,
    saved, exported and predicted with as one. The members must take the same input.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    shapes = {tuple(member.input_shape[1:]) for member in members}
    if len(shapes) != 1:
        raise UserError(f"the ensemble's members take different inputs ({sorted(shapes)}); train them from one trial")
    inputs = keras.Input(shape=shapes.pop(), name="image")
    features, kernels, biases = [], [], []
    for index, member in enumerate(members):
        classifier = member.get_layer("classifier")
        trunk = keras.Model(member.inputs, classifier.input, name=f"member{index + 1}")
        features.append(trunk(inputs))
        kernel, bias = classifier.get_weights()
        kernels.append(kernel)
        biases.append(bias)
    merged = keras.layers.Concatenate(name="member_features", dtype="float32")(features)
    outputs = keras.layers.Dense(kernels[0].shape[1], activation="softmax", dtype="float32", name="classifier")(merged)
    model = keras.Model(inputs, outputs, name=name)
    model.get_layer("classifier").set_weights([np.concatenate(kernels) / len(members), np.mean(biases, axis=0)])
    return model


def ensemble_members(ensemble: keras.Model) -> list[keras.Model]:
    """The members of an :func:`ensemble_model`, each its own trunk and classifier, whose ensemble is ``ensemble``.

    Each member's kernel is its block of the ensemble's kernel times the number of members. The members' own biases
    were averaged into one, so each gets that mean: a member's logits then differ from the original member's by a
    constant per class, and their mean, all the ensemble scores, is unchanged. What it is for: growing a release by
    more members (``python -m emotion_lib.release --extend``), as if all had been given at once. Members reuse the
    ensemble's layers (no copy), so an ensemble of them is as flat as the original.
    """
    names = [layer.name for layer in ensemble.layers]
    trunks = sorted((layer for layer in ensemble.layers if re.fullmatch(r"member\d+", layer.name)),
                    key=lambda layer: int(layer.name.removeprefix("member")))
    if "member_features" not in names or len(trunks) < 2:
        raise UserError(f"model {ensemble.name!r} is not an ensemble of this project's (no member1, member2, ... "
                        f"joined by member_features); give a release made from several runs")
    kernel, bias = ensemble.get_layer("classifier").get_weights()
    edges = np.cumsum([0, *(trunk.outputs[0].shape[-1] for trunk in trunks)])
    if edges[-1] != kernel.shape[0]:
        raise ValueError(f"the members' features ({edges[-1]}) do not match the classifier's kernel {kernel.shape}")
    members = []
    for trunk, start, stop in zip(trunks, edges[:-1], edges[1:], strict=True):
        classifier = keras.layers.Dense(kernel.shape[1], activation="softmax", dtype="float32", name="classifier")
        members.append(keras.Model(trunk.inputs, classifier(trunk.outputs[0]), name=trunk.name))
        classifier.set_weights([kernel[start:stop] * len(trunks), bias])
    return members


# Every entry of a saved .keras file gets this zip timestamp (the zip format's earliest), so that the file's bytes
# depend on the model alone: a deterministic retraining then leaves DVC nothing to rerun downstream.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save ``model`` as a ``.keras`` file whose bytes depend only on the model (architecture, weights, optimizer).

    Keras stamps the save time twice (``date_saved`` in ``metadata.json``, never
    read back on load, and the zip entry time of ``model.weights.h5``) and names
    shared objects in ``config.json`` by their memory address.  The times are
    removed and the addresses renumbered, so retraining with the same seed and
    inputs in a new process reproduces the file byte for byte, and
    ``evaluate-<trial>`` does not rerun after a forced ``train-<trial>``.
    Written in place: callers wrap it in ``atomic_file``.
    """
    path = Path(path)
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                data = _renumber_shared_objects(data)
            stamped = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            stamped.compress_type = info.compress_type
            stamped.external_attr = info.external_attr
            archive.writestr(stamped, data)


def _renumber_shared_objects(config_json: bytes) -> bytes:
    """Renumber Keras' ``shared_object_id`` values 1, 2, ... in order of first appearance.

    Keras writes Python ``id()``s there, different in every process; they only
    tell the loader which entries are one shared object, which a consistent
    renumbering keeps.
    """
    numbers: dict[bytes, int] = {}

    def renumber(match: re.Match) -> bytes:
        number = numbers.setdefault(match.group(2), len(numbers) + 1)
        return match.group(1) + str(number).encode()

    return re.sub(rb'("shared_object_id": )(\d+)', renumber, config_json)


def load_model(path: str | Path, *, compile: bool = True, remedy: str = "") -> keras.Model:  # noqa: A002 - Keras' name
    """Load a model saved by :func:`save_model` (every training stage) in Keras safe mode.

    Importing this module registers the custom layers (:class:`VGG16Preprocess`,
    :class:`FusedBatchNormalization`), so safe loading works.  A missing file, or a file that is not a
    Keras model of this project, is a :class:`UserError` naming the path and
    ``remedy`` (what to run to make a good one).
    """
    path = Path(path)
    remedy = remedy or "train a trial first (`dvc repro`) and pass models/<trial>.keras"
    if not path.is_file():
        raise UserError(f"model file {path} {why_not_a_file(path)}; {remedy}")
    if not zipfile.is_zipfile(path):  # Keras would call a truncated or foreign file "not found".
        raise UserError(f"{path} is not a Keras model file (a .keras file is a zip archive; this one is not: "
                        f"truncated, empty or another format); {remedy}")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=compile)
    except Exception as error:  # Keras raises ValueError, OSError, KeyError, zipfile.BadZipFile, ... for bad files.
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"{path} is not a Keras model of this project ({first_line}); {remedy}") from error
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise UserError(f"{path} is not an image classifier of this project (one (None, S, S, C) input); {remedy}")
    _check_probabilities(model, path, remedy)
    return model


ROW_SUM_TOLERANCE = 1e-2
"""How far a model's output rows may sum away from 1 before we refuse to treat them as probabilities."""


def are_probabilities(rows: np.ndarray) -> bool:
    """Whether every row of a model's outputs is a probability distribution (non-negative, summing to 1)."""
    rows = np.asarray(rows, dtype="float64")
    return not (np.any(rows < -1e-6) or np.any(np.abs(rows.sum(axis=-1) - 1.0) > ROW_SUM_TOLERANCE))


def _check_probabilities(model: keras.Model, path: Path, remedy: str) -> None:
    """Refuse a model whose output is not one probability per class (a softmax), before it scores anything.

    One mid-grey image goes through the model in inference mode (no random layer draws, so training that
    follows is unchanged); without this, evaluate or predict would fail part-way, with a traceback.
    """
    shape = model.output_shape
    if not isinstance(shape, tuple) or len(shape) != 2:
        raise UserError(f"{path} is not a classifier of this project (one (None, classes) output, got {shape}); "
                        f"{remedy}")
    probe = np.full((1, *model.input_shape[1:]), 127.0, dtype="float32")
    row = np.asarray(keras.ops.convert_to_numpy(model(probe, training=False)), dtype="float64")[0]
    if not are_probabilities(row):
        raise UserError(f"{path}: the model's outputs are not probabilities (they sum to {row.sum():.3g}); pass a "
                        f"model that ends in a softmax, as every trial of this project does; {remedy}")
