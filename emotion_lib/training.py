"""Training of one trial: input pipeline, fit, DVCLive logging and the saved model.

:func:`train_trial` is the single entry point used by every training stage
(the five from-scratch trials, VGG16 feature extraction and fine-tuning).  It
reads the prepared arrays ``data_dir/{train,val}.npz``, feeds them through a
``tf.data`` pipeline (:func:`make_dataset`), fits the given model, and writes,
each atomically (complete or not at all):

* ``model_path`` (``.keras``): the trained model, loadable with
  ``keras.models.load_model(path, safe_mode=True)`` once :mod:`emotion_lib.models`
  is imported (see :func:`emotion_lib.models.load_model`);
* ``live_dir/``: the DVCLive directory, with per-epoch curves
  ``plots/metrics/train/{loss,accuracy,learning_rate}.tsv`` and
  ``plots/metrics/eval/{loss,accuracy}.tsv`` (columns ``step`` (0-based epoch)
  and the metric), the final summary ``metrics.json`` (deterministic for a
  given seed and inputs) and ``timing.json`` (wall-clock figures, deliberately
  kept out of ``metrics.json`` so that metrics only change when results change).

``metrics.json`` holds DVCLive's last-epoch values (``train``/``eval`` ->
``loss``, ``accuracy``, ``learning_rate``; ``step``) plus the run summary:
``trial``, ``epochs_run``, ``stopped_early``, ``best_epoch`` (1-based, lowest
val_loss), ``best_val_loss``, ``best_val_accuracy``, ``last_val_loss``,
``last_val_accuracy``, ``saved_epoch`` (whose weights ``model_path`` holds),
``trainable_params``, ``total_params``, ``cache_features`` and the caller's
``extra_metrics`` (e.g. ``backbone_source``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_lib.atomic import atomic_dir, atomic_file, write_json
from emotion_lib.errors import UserError
from emotion_lib.inputs import input_geometry, load_split, make_dataset
from emotion_lib.models import VGG16Preprocess

CLASS_WEIGHT_MODES: tuple[str, ...] = ("none", "balanced")

# Keys train_trial writes into metrics.json itself; extra_metrics may not reuse them.
_SUMMARY_KEYS = frozenset(
    {
        "trial",
        "epochs_run",
        "stopped_early",
        "best_epoch",
        "best_val_loss",
        "best_val_accuracy",
        "last_val_loss",
        "last_val_accuracy",
        "saved_epoch",
        "trainable_params",
        "total_params",
        "cache_features",
        "train",
        "eval",
        "step",
    }
)


def set_global_determinism(seed: int) -> None:
    """Seed every random source and make TensorFlow ops deterministic; the one place that does so.

    ``keras.utils.set_random_seed`` seeds Python's ``random``, NumPy and
    TensorFlow (and Keras' global seed generator);
    ``enable_op_determinism`` makes TensorFlow pick deterministic kernels and
    forces deterministic ``tf.data`` ordering.  Together with the explicit
    seeds in :func:`emotion_lib.models.build_model` and :func:`make_dataset`,
    the same inputs give bit-identical results on the same machine.

    ``PYTHONHASHSEED`` cannot be changed once Python runs; nothing here depends
    on set or dict-of-str iteration order, so it does not need to be fixed.
    Results are reproducible on one machine and TensorFlow build; a different
    CPU (instruction set) or thread count may change float round-off.
    """
    if not isinstance(seed, int) or seed < 0:
        raise UserError(f"seed must be an integer >= 0, got {seed!r}")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compute_class_weights(labels: np.ndarray, num_classes: int, mode: str) -> dict[int, float] | None:
    """Keras ``class_weight`` for ``mode`` ``"none"`` (None) or ``"balanced"`` (sklearn's n / (k * count)).

    Classes absent from ``labels`` get weight 1.0: they never occur in training,
    and sklearn refuses to weight them.
    """
    if mode not in CLASS_WEIGHT_MODES:
        raise UserError(f"train.class_weight must be one of {list(CLASS_WEIGHT_MODES)}, got {mode!r}")
    if mode == "none":
        return None
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    result = {index: 1.0 for index in range(num_classes)}
    result.update({int(label): float(weight) for label, weight in zip(present, weights, strict=True)})
    return result


def count_params(weights: list) -> int:
    """Number of scalars in a list of Keras variables."""
    return int(sum(math.prod(weight.shape) for weight in weights))


def _chain_model(input_shape: tuple, layers: list, input_name: str, name: str) -> keras.Model:
    """A Functional model calling ``layers`` one after another on a new input; it shares their weights."""
    inputs = keras.Input(shape=tuple(input_shape), name=input_name)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def split_feature_extractor(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Split a frozen-VGG16 model into (extractor: image -> VGG16 features, head: features -> probabilities).

    Both share their layers (and so their weights) with ``model``: training the
    head trains ``model``'s head.  Valid only when everything up to the
    ``"vgg16"`` sub-model is deterministic and frozen, i.e. no augmentation and
    no unfrozen VGG16 block; otherwise caching features would change training.
    """
    names = [layer.name for layer in model.layers]
    if "vgg16" not in names:
        raise UserError(
            f"cache_features needs a VGG16 model, but {model.name!r} has no 'vgg16' layer: "
            "train from-scratch trials with cache_features=False"
        )
    index = names.index("vgg16")
    base = model.layers[index]
    if base.trainable_weights:
        raise UserError(
            "cache_features needs a frozen VGG16 base, but some of its blocks are trainable "
            "(fine-tuning, trials.<name>.unfreeze): train it with cache_features=False"
        )
    for layer in model.layers[1:index]:
        if layer.name.startswith("augment_") or isinstance(layer, keras.layers.Dropout) or layer.trainable_weights:
            raise UserError(
                f"cache_features needs a deterministic, frozen input side, but layer {layer.name!r} "
                "is random or trainable: set trials.<name>.augmentation: false or train with cache_features=False"
            )
    extractor = _chain_model(model.input_shape[1:], model.layers[1 : index + 1], "image", "feature_extractor")
    head = _chain_model(tuple(base.output.shape[1:]), model.layers[index + 1 :], "features", "head")
    if tuple(head.output_shape) != tuple(model.output_shape):
        raise ValueError(f"the head after 'vgg16' is not a simple chain of layers in model {model.name!r}")
    return extractor, head


# The cached validation activations may not exceed this; above it, validation runs the whole model every epoch.
VALIDATION_CACHE_MAX_BYTES = 2 * 1024**3


def _chain_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """``model``'s layers in call order with nested models (the VGG16 base) expanded and input layers dropped."""
    chain: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            chain.extend(_chain_layers(layer))
        else:
            chain.append(layer)
    return chain


def split_frozen_prefix(model: keras.Model) -> tuple[keras.Model, keras.Model, str] | None:
    """Split a chain model after its longest frozen prefix: (prefix, suffix, name of the prefix's last layer).

    The prefix (image -> activations) holds every layer before the first
    trainable one, e.g. augmentation, VGG16 preprocessing and the frozen VGG16
    blocks (all of them for feature extraction, blocks 1-4 when fine-tuning
    block5); the suffix (activations -> probabilities) holds the rest.  Both
    share their layers, and so their weights, with ``model``.  In inference
    mode, which validation uses, the prefix's output never changes during
    training, so validation can run it once (see :class:`_CachedValidation`).

    Returns None when there is nothing worth caching (the prefix has no
    weights, as in the from-scratch CNNs, whose first conv layer trains) or
    when the model is not a simple chain of single-input layers.
    """
    chain = _chain_layers(model)
    first_trainable = next((index for index, layer in enumerate(chain) if layer.trainable_weights), len(chain))
    prefix_layers, suffix_layers = chain[:first_trainable], chain[first_trainable:]
    if not suffix_layers or not any(layer.weights for layer in prefix_layers):
        return None
    try:
        prefix = _chain_model(model.input_shape[1:], prefix_layers, "image", "frozen_prefix")
        suffix = _chain_model(tuple(prefix.output.shape[1:]), suffix_layers, "activations", "trainable_suffix")
    except (ValueError, TypeError):
        # A layer that takes several inputs (a non-chain graph) cannot be re-called on one tensor.
        return None
    if tuple(suffix.output_shape) != tuple(model.output_shape):
        return None
    return prefix, suffix, prefix_layers[-1].name


class _CachedValidation(keras.callbacks.Callback):
    """Validation on the frozen prefix's outputs, computed once, through the trainable suffix only.

    Writes ``val_loss`` and ``val_accuracy`` into each epoch's logs as
    ``model.fit``'s own validation would (sparse categorical cross-entropy
    plus the model's regularisation losses, unweighted by class weights), so
    it must come first in the callback list: EarlyStopping,
    ReduceLROnPlateau, DVCLive and Keras' History (appended last by Keras)
    then see the same values.  For VGG16 feature extraction at the default
    settings the val split is twice the undersampled train split, so running
    the frozen base over it every epoch would cost more than training itself.
    """

    def __init__(self, suffix: keras.Model, activations: np.ndarray, labels: np.ndarray, batch_size: int):
        super().__init__()
        self._suffix = suffix
        self._activations = activations
        self._labels = labels
        self._batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self._suffix.predict(self._activations, batch_size=self._batch_size, verbose=0)
        losses = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(self._labels, probabilities))
        val_loss = float(np.mean(losses))
        if self.model.losses:
            val_loss += float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in self.model.losses))
        if logs is not None:
            logs["val_loss"] = val_loss
            logs["val_accuracy"] = float(np.mean(np.argmax(probabilities, axis=-1) == self._labels))


def _cached_validation(
    model: keras.Model, val_dataset: tf.data.Dataset, val_labels: np.ndarray, batch_size: int
) -> tuple[_CachedValidation, str] | None:
    """A :class:`_CachedValidation` for ``model``, or None where caching does not apply or would not fit in memory."""
    split = split_frozen_prefix(model)
    if split is None:
        return None
    prefix, suffix, boundary = split
    if math.prod(prefix.output_shape[1:]) * len(val_labels) * 4 > VALIDATION_CACHE_MAX_BYTES:
        return None
    activations = prefix.predict(val_dataset, verbose=0)
    # Guard against a graph the chain rebuild got wrong: prefix then suffix must reproduce the model on real data.
    # The sample is read after the full pass above, so the dataset's cache is complete rather than half-filled.
    sample = next(iter(val_dataset))[0][:8]
    expected = model.predict(sample, verbose=0)
    if not np.allclose(suffix.predict(activations[: len(sample)], verbose=0), expected, atol=1e-5):
        print(f"warning: {model.name!r} does not split at {boundary!r}; validating the whole model every epoch")
        return None
    return _CachedValidation(suffix, activations, val_labels, batch_size), boundary


class _EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch (for timing.json and the throughput benchmark)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class _LogLearningRate(keras.callbacks.Callback):
    """Add the epoch's learning rate to the logs when ReduceLROnPlateau (which logs it itself) is off.

    So every trial has the same curves, ``train/learning_rate.tsv`` included,
    whatever its callbacks.  Must run after ReduceLROnPlateau and before DVCLive.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "learning_rate" not in logs:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _compile(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _check_labels(labels: np.ndarray, num_classes: int, data_dir: Path, split: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserError(
            f"{str(Path(data_dir) / f'{split}.npz')!r} has labels in [{labels.min()}, {labels.max()}], but the "
            f"model has {num_classes} outputs: re-run data preparation or fix the model's number of classes"
        )
    if labels.size == 0:
        raise UserError(f"{str(Path(data_dir) / f'{split}.npz')!r} is empty: re-run the data preparation stage")


def _check_meta(data_dir: Path, num_classes: int) -> None:
    meta_path = Path(data_dir) / "meta.json"
    if not meta_path.is_file():
        return
    emotions = json.loads(meta_path.read_text()).get("emotions")
    if emotions is not None and len(emotions) != num_classes:
        raise UserError(
            f"{str(meta_path)!r} lists {len(emotions)} emotions but the model has {num_classes} outputs: "
            "build the model with num_classes = len(emotions)"
        )


def _validate_training_args(
    *,
    trial: str,
    batch_size: int,
    epochs: int,
    learning_rate: float,
    early_stopping_patience: int,
    reduce_lr_factor: float,
    reduce_lr_patience: int,
    reduce_lr_min_delta: float,
    model_path: Path,
    extra_metrics: dict | None,
) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"train.batch_size must be an integer >= 1, got {batch_size!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"trials.{trial}.epochs must be an integer >= 1, got {epochs!r}")
    if not learning_rate > 0:
        raise UserError(f"trials.{trial}.learning_rate must be > 0, got {learning_rate!r}")
    if not isinstance(early_stopping_patience, int) or early_stopping_patience < 0:
        raise UserError(
            f"trials.{trial}.early_stopping_patience must be an integer >= 0, got {early_stopping_patience!r}"
        )
    if not 0 < reduce_lr_factor < 1:
        raise UserError(f"train.reduce_lr.factor must be in (0, 1), got {reduce_lr_factor!r}")
    if not isinstance(reduce_lr_patience, int) or reduce_lr_patience < 0:
        raise UserError(f"train.reduce_lr.patience must be an integer >= 0, got {reduce_lr_patience!r}")
    if reduce_lr_min_delta < 0:
        raise UserError(f"train.reduce_lr.min_delta must be >= 0, got {reduce_lr_min_delta!r}")
    if Path(model_path).suffix != ".keras":
        raise ValueError(f"model_path must end in '.keras', got {str(model_path)!r}")
    for key, value in (extra_metrics or {}).items():
        if key in _SUMMARY_KEYS:
            raise ValueError(f"extra_metrics key {key!r} clashes with a metric train_trial writes itself")
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"extra_metrics[{key!r}] must be a str, int, float or bool, got {type(value).__name__}")


def train_trial(
    *,
    trial: str,
    model: keras.Model,
    data_dir: Path,
    batch_size: int,
    epochs: int,
    learning_rate: float,
    early_stopping: bool,
    early_stopping_patience: int,
    class_weight: str,
    reduce_lr: bool,
    reduce_lr_factor: float,
    reduce_lr_patience: int,
    reduce_lr_min_delta: float,
    cache_features: bool,
    seed: int,
    model_path: Path,
    live_dir: Path,
    extra_metrics: dict | None = None,
    cache_validation: bool = True,
) -> dict:
    """Compile and fit ``model`` on ``data_dir``'s train split (validating on val), then save everything.

    The model is (re)compiled here with Adam(``learning_rate``) and sparse
    categorical cross-entropy, so a loaded model whose blocks were just
    unfrozen for fine-tuning trains with the new trainable set.  Callbacks:
    EarlyStopping on val_loss restoring the best weights (if
    ``early_stopping``), ReduceLROnPlateau on val_loss (if ``reduce_lr``),
    DVCLive.  ``cache_features`` runs a frozen VGG16 base once and trains only
    the head on its outputs (same result, much faster; see
    :func:`split_feature_extractor`).  ``cache_validation`` runs a frozen
    prefix of the model (the VGG16 base, also when fine-tuning block5) over the
    val split once and validates only the trainable rest every epoch (same
    figures to float round-off; see :class:`_CachedValidation`).

    Writes ``model_path``, ``live_dir/metrics.json``,
    ``live_dir/plots/metrics/...`` and ``live_dir/timing.json`` (see the
    module docstring) and returns the content of ``metrics.json``.
    """
    model_path, live_dir, data_dir = Path(model_path), Path(live_dir), Path(data_dir)
    _validate_training_args(
        trial=trial,
        batch_size=batch_size,
        epochs=epochs,
        learning_rate=learning_rate,
        early_stopping_patience=early_stopping_patience,
        reduce_lr_factor=reduce_lr_factor,
        reduce_lr_patience=reduce_lr_patience,
        reduce_lr_min_delta=reduce_lr_min_delta,
        model_path=model_path,
        extra_metrics=extra_metrics,
    )
    set_global_determinism(seed)

    image_size, channels = input_geometry(model)
    num_classes = int(model.output_shape[-1])
    # Split (and so validate cache_features) before any data is read, to fail fast on a bad combination.
    extractor, head = split_feature_extractor(model) if cache_features else (None, None)
    _check_meta(data_dir, num_classes)
    train_images, train_labels = load_split(data_dir, "train")
    val_images, val_labels = load_split(data_dir, "val")
    _check_labels(train_labels, num_classes, data_dir, "train")
    _check_labels(val_labels, num_classes, data_dir, "val")
    weights = compute_class_weights(train_labels, num_classes, class_weight)

    def dataset(images: np.ndarray, labels: np.ndarray, shuffle: bool) -> tf.data.Dataset:
        return make_dataset(
            images, labels, image_size=image_size, channels=channels, batch_size=batch_size, shuffle=shuffle, seed=seed
        )

    # The frozen part of a model (the VGG16 base) gives the same validation activations every epoch: compute them
    # once.  Timed apart; 0 when the model has no frozen prefix worth caching (the from-scratch CNNs).
    validation_start = time.perf_counter()
    cached_validation = None
    val_dataset = dataset(val_images, val_labels, shuffle=False) if extractor is None else None
    if cache_validation and val_dataset is not None:
        cached_validation = _cached_validation(model, val_dataset, val_labels, batch_size)
    validation_cache_seconds = time.perf_counter() - validation_start if cached_validation else 0.0

    callbacks: list[keras.callbacks.Callback] = [cached_validation[0]] if cached_validation else []
    if early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True, verbose=1
            )
        )
    if reduce_lr:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=reduce_lr_factor,
                patience=reduce_lr_patience,
                min_delta=reduce_lr_min_delta,
                verbose=1,
            )
        )
    timer = _EpochTimer()
    callbacks += [timer, _LogLearningRate()]

    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    # DVCLive writes into a temporary sibling that replaces live_dir only when everything succeeded.  The path is
    # absolute on purpose: under `dvc exp run`, Live.end() git-adds untracked files matching its (repo-relative)
    # dir, and an absolute temporary path matches nothing, so no phantom temporary files end up in git's index.
    with atomic_dir(live_dir.resolve()) as tmp_live:
        live = Live(dir=str(tmp_live), dvcyaml=False, save_dvc_exp=False, report=None)
        callbacks.append(DVCLiveCallback(live=live))
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        extraction_seconds = 0.0
        start = time.perf_counter()
        if extractor is not None and head is not None:
            extraction_start = time.perf_counter()
            train_features = extractor.predict(dataset(train_images, train_labels, shuffle=False), verbose=0)
            val_features = extractor.predict(dataset(val_images, val_labels, shuffle=False), verbose=0)
            extraction_seconds = time.perf_counter() - extraction_start
            _compile(head, optimizer)
            history = head.fit(
                make_feature_dataset(train_features, train_labels, batch_size=batch_size, shuffle=True, seed=seed),
                validation_data=make_feature_dataset(val_features, val_labels, batch_size=batch_size, shuffle=False),
                epochs=epochs,
                callbacks=callbacks,
                class_weight=weights,
                # The datasets shuffle themselves (seeded); Keras' own shuffle flag does not apply to tf.data.
                shuffle=False,
                verbose=2,
            )
            # The full model shares the head's layers and optimizer, so it saves exactly like the uncached path.
            _compile(model, head.optimizer)
        else:
            _compile(model, optimizer)
            history = model.fit(
                dataset(train_images, train_labels, shuffle=True),
                validation_data=None if cached_validation else val_dataset,
                epochs=epochs,
                callbacks=callbacks,
                class_weight=weights,
                # The datasets shuffle themselves (seeded); Keras' own shuffle flag does not apply to tf.data.
                shuffle=False,
                verbose=2,
            )
        train_seconds = time.perf_counter() - start

        summary = _final_summary(
            trial=trial,
            history=history.history,
            epochs=epochs,
            early_stopping=early_stopping,
            model=model,
            cache_features=cache_features,
            extra_metrics=extra_metrics,
        )
        live.summary.update(summary)
        live.make_summary()
        images_seen = len(train_images) * len(timer.seconds)
        write_json(
            tmp_live / "timing.json",
            {
                "train_seconds": round(train_seconds, 3),
                "feature_extraction_seconds": round(extraction_seconds, 3),
                "validation_cache_layer": cached_validation[1] if cached_validation else None,
                "validation_cache_seconds": round(validation_cache_seconds, 3),
                "epoch_seconds": [round(seconds, 3) for seconds in timer.seconds],
                "train_images_per_second": round(images_seen / max(sum(timer.seconds), 1e-9), 1),
            },
        )
        with atomic_file(model_path) as tmp_model:
            model.save(tmp_model)
    return json.loads((live_dir / "metrics.json").read_text())


def make_feature_dataset(
    features: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int = 0
) -> tf.data.Dataset:
    """Batches of cached VGG16 features, shuffled like :func:`make_dataset` shuffles images."""
    dataset = tf.data.Dataset.from_tensor_slices((features, labels.astype(np.int64))).cache()
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _final_summary(
    *,
    trial: str,
    history: dict[str, list[float]],
    epochs: int,
    early_stopping: bool,
    model: keras.Model,
    cache_features: bool,
    extra_metrics: dict | None,
) -> dict[str, Any]:
    """The run-level metrics added to DVCLive's metrics.json (everything deterministic; no timings)."""
    val_loss = [float(value) for value in history["val_loss"]]
    val_accuracy = [float(value) for value in history["val_accuracy"]]
    # The first epoch with the lowest val_loss: the one EarlyStopping(restore_best_weights=True) restores.
    best = int(np.argmin(val_loss))
    epochs_run = len(val_loss)
    summary: dict[str, Any] = {
        "trial": trial,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < epochs,
        "best_epoch": best + 1,
        "best_val_loss": val_loss[best],
        "best_val_accuracy": val_accuracy[best],
        "last_val_loss": val_loss[-1],
        "last_val_accuracy": val_accuracy[-1],
        # Which epoch's weights the saved model holds.
        "saved_epoch": best + 1 if early_stopping else epochs_run,
        "trainable_params": count_params(model.trainable_weights),
        "total_params": count_params(model.weights),
        "cache_features": bool(cache_features),
    }
    summary.update(extra_metrics or {})
    return summary


__all__ = [
    "VGG16Preprocess",
    "compute_class_weights",
    "count_params",
    "load_split",
    "make_dataset",
    "make_feature_dataset",
    "set_global_determinism",
    "split_feature_extractor",
    "split_frozen_prefix",
    "train_trial",
]
