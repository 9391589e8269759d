"""Training of one trial: fit, callbacks, DVCLive logging and the saved model.

:func:`train_trial` is the single entry point of every training stage (the
five from-scratch trials, VGG16 feature extraction and fine-tuning).  It reads
the prepared arrays ``data_dir/{train,val}.npz`` through the one input pipeline
(:func:`emotion_lib.inputs.make_dataset`), fits the model with the trial's
settings (a :class:`~emotion_lib.config.TrialRun`), and writes, each atomically
(complete or not at all):

* ``model_path`` (``.keras``): the trained model, loadable with
  :func:`emotion_lib.models.load_model`;
* ``live_dir/``: the DVCLive directory, with per-epoch curves
  ``plots/metrics/train/{loss,accuracy,learning_rate}.tsv`` and
  ``plots/metrics/eval/{loss,accuracy}.tsv`` (columns ``step`` (0-based epoch)
  and the metric), ``metrics.json`` (deterministic for a given seed, inputs and
  machine) and ``timing.json`` (wall-clock figures, kept out of
  ``metrics.json`` so that metrics only change when results change).

``metrics.json``'s ``train``/``eval``/``step`` describe the **saved** model:
the epoch whose weights early stopping restored (``saved_epoch``, 1-based), or
the last epoch without early stopping; the last epoch's figures are under
``last_epoch``.  Beside them: ``trial``, ``epochs_run``, ``stopped_early``,
``best_epoch``, ``best_val_loss``, ``best_val_accuracy``, ``trainable_params``,
``total_params``, ``frozen_prefix_cache`` and the caller's ``extra_metrics``.

A frozen prefix of the model (the VGG16 base) gives the same activations every
epoch in inference mode, so :func:`split_frozen_prefix` splits it off and runs
it once: over the val split always, and over the train split too when nothing
in the prefix is random (no augmentation), in which case only the trainable
rest is fitted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from emotion_lib import quiet_tensorflow  # noqa: F401 - first: TensorFlow's start-up lines stay out of stderr

# isort: split
import keras
import numpy as np
import tensorflow as tf

from emotion_lib.atomic import atomic_dir, atomic_file, write_json
from emotion_lib.config import CLASS_WEIGHT_MODES, TrialRun
from emotion_lib.errors import UserError
from emotion_lib.inputs import input_geometry, load_split, make_dataset, read_emotions, without_autotune
from emotion_lib.losses import sparse_categorical_crossentropy
from emotion_lib.models import SmoothedSparseCrossentropy, save_model
from emotion_lib.progress import EpochProgress, PredictProgress


class _WithoutRetracingNotice(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing" notice.

    A frozen-prefix plan predicts with three models (the prefix, the whole model once to check the split, the
    suffix); TensorFlow counts their predict functions together and calls the first trace of each a retracing.
    Each traces once, so the notice asks nothing of the user; it is the only one dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_WithoutRetracingNotice())

# Keys train_trial writes into metrics.json itself; extra_metrics may not reuse them.
_SUMMARY_KEYS = frozenset(
    {
        "trial",
        "epochs_run",
        "stopped_early",
        "best_epoch",
        "best_epoch_by",
        "best_val_loss",
        "best_val_accuracy",
        "saved_epoch",
        "last_epoch",
        "trainable_params",
        "total_params",
        "frozen_prefix_cache",
        "replicas",
        "global_batch_size",
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
    """Keras ``class_weight`` for ``mode`` ``"none"`` (None), ``"balanced"`` or ``"sqrt"``.

    balanced is sklearn's n / (k * count); sqrt is its square root, rescaled so that the weight averaged over
    the training images stays 1 (the loss keeps its scale, so the learning rate means the same). sqrt lifts a
    rare class (FER-2013's disgust, 1.5 % of the training images: weight 9.4 under balanced, 3.2 under sqrt)
    while costing the frequent ones less (happy: 0.57 against 0.79). Classes absent from ``labels`` get
    weight 1.0: they never occur in training, and sklearn refuses to weight them.
    """
    if mode not in CLASS_WEIGHT_MODES:
        raise UserError(f"train.class_weight must be one of {list(CLASS_WEIGHT_MODES)}, got {mode!r}")
    if mode == "none":
        return None
    from sklearn.utils.class_weight import compute_class_weight

    present, counts = np.unique(labels, return_counts=True)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    if mode == "sqrt":
        weights = np.sqrt(weights)
        weights = weights * counts.sum() / float(np.dot(counts, weights))
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
    ``model.fit``'s own validation would (sparse categorical cross-entropy,
    label-smoothed like the compiled loss and scored as from the logits
    (``emotion_lib.losses``), plus the model's regularisation losses,
    unweighted by class weights), so
    it must come first in the callback list: EarlyStopping,
    ReduceLROnPlateau, DVCLive and Keras' History (appended last by Keras)
    then see the same values.  For VGG16 feature extraction at the default
    settings the val split is twice the undersampled train split, so running
    the frozen base over it every epoch would cost more than training itself.
    """

    def __init__(self, suffix: keras.Model, activations: np.ndarray, labels: np.ndarray, batch_size: int,
                 label_smoothing: float):
        super().__init__()
        self._suffix = suffix
        self._activations = activations
        self._labels = labels
        self._batch_size = batch_size
        self._label_smoothing = label_smoothing

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self._suffix.predict(self._activations, batch_size=self._batch_size, verbose=0)
        val_loss = sparse_categorical_crossentropy(self._labels, probabilities, self._label_smoothing)
        if self.model.losses:
            val_loss += float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in self.model.losses))
        if logs is not None:
            logs["val_loss"] = val_loss
            logs["val_accuracy"] = float(np.mean(np.argmax(probabilities, axis=-1) == self._labels))


def distribution_strategy(mode: str) -> tf.distribute.Strategy:
    """The strategy ``train.distribute`` names: ``none`` (the default, one device) or ``mirrored``.

    ``mirrored`` is :class:`tf.distribute.MirroredStrategy` over every visible device (all GPUs, or the CPU
    devices a test configures): each replica gets ``train.batch_size`` images per step, gradients are
    all-reduced, and the metrics come out in the same format.  Build and train the model inside
    ``strategy.scope()`` (:func:`emotion_lib.trials.run_trial` does).
    """
    if mode == "none":
        return tf.distribute.get_strategy()
    if mode == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise UserError(f"train.distribute must be 'none' or 'mirrored', got {mode!r}")


def _predict(model: keras.Model, dataset: tf.data.Dataset, label: str) -> np.ndarray:
    """``model.predict`` over a batched dataset, with a progress line every 10 s (these passes take minutes)."""
    total = int(dataset.cardinality())
    return model.predict(dataset, verbose=0, callbacks=[PredictProgress(label, total)] if total > 0 else [])


def _random_in_training(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` behaves differently, randomly, when training (augmentation, dropout, noise)."""
    name = type(layer).__name__
    return name.startswith("Random") or "Dropout" in name or "Noise" in name


@dataclasses.dataclass
class _Data:
    """The prepared train and val splits and the model's input geometry."""

    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    image_size: int
    channels: int

    def dataset(self, split: str, batch_size: int, seed: int, shuffle: bool = False) -> tf.data.Dataset:
        images, labels = (self.train_images, self.train_labels) if split == "train" else (self.val_images,
                                                                                           self.val_labels)
        return make_dataset(images, labels, image_size=self.image_size, channels=self.channels,
                            batch_size=batch_size, shuffle=shuffle, seed=seed)


def _load_data(model: keras.Model, data_dir: Path, train_split: str = "undersampled") -> _Data:
    image_size, channels = input_geometry(model)
    num_classes = int(model.output_shape[-1])
    _check_meta(data_dir, num_classes)
    # The full split is every deduplicated training image outside val (see emotion_lib.prepare).
    train_name = "train_full" if train_split == "full" else "train"
    train_images, train_labels = load_split(data_dir, train_name)
    val_images, val_labels = load_split(data_dir, "val")
    _check_labels(train_labels, num_classes, data_dir, train_name)
    _check_labels(val_labels, num_classes, data_dir, "val")
    return _Data(train_images, train_labels, val_images, val_labels, image_size, channels)


@dataclasses.dataclass
class _FitPlan:
    """What ``fit`` runs on: the whole model on images, or a trainable suffix on cached prefix activations."""

    fit_model: keras.Model
    train_data: tf.data.Dataset
    val_data: tf.data.Dataset | None
    callbacks: list[keras.callbacks.Callback]
    cache_layer: str | None = None
    cache_scope: str | None = None  # "train+val" or "val"
    cache_seconds: float = 0.0


def _plan_fit(model: keras.Model, data: _Data, run: TrialRun, cache_prefix: bool) -> _FitPlan:
    """Run the frozen prefix once where possible (see the module docstring); otherwise fit the whole model."""
    start = time.perf_counter()
    split = split_frozen_prefix(model) if cache_prefix else None
    plain = _FitPlan(model, data.dataset("train", run.batch_size, run.seed, shuffle=True),
                     data.dataset("val", run.batch_size, run.seed), [])
    if split is None:
        return plain
    prefix, suffix, boundary = split
    per_image = math.prod(prefix.output_shape[1:]) * 4
    deterministic = not any(_random_in_training(layer) for layer in _chain_layers(prefix))
    n_cached = len(data.val_labels) + (len(data.train_labels) if deterministic else 0)
    if per_image * n_cached > VALIDATION_CACHE_MAX_BYTES:
        return plain
    val_activations = _predict(prefix, plain.val_data, f"train-{run.name}: frozen {boundary} over val")
    if not _splits_exactly(model, suffix, plain.val_data, val_activations):
        print(f"warning: {model.name!r} does not split at {boundary!r}; training the whole model every epoch")
        return plain
    if deterministic:
        train_activations = _predict(prefix, data.dataset("train", run.batch_size, run.seed),
                                     f"train-{run.name}: frozen {boundary} over train")
        return _FitPlan(
            suffix,
            make_feature_dataset(train_activations, data.train_labels, batch_size=run.batch_size, shuffle=True,
                                 seed=run.seed),
            make_feature_dataset(val_activations, data.val_labels, batch_size=run.batch_size, shuffle=False),
            [], boundary, "train+val", time.perf_counter() - start,
        )
    validation = _CachedValidation(suffix, val_activations, data.val_labels, run.batch_size, run.label_smoothing)
    return _FitPlan(model, plain.train_data, None, [validation], boundary, "val", time.perf_counter() - start)


def _splits_exactly(model: keras.Model, suffix: keras.Model, val_data: tf.data.Dataset,
                    activations: np.ndarray) -> bool:
    """Guard against a graph the chain rebuild got wrong: prefix then suffix must reproduce the model on real data.

    The sample is read after the full pass over ``val_data``, so its cache is complete rather than half-filled.
    """
    sample = next(iter(val_data))[0][:8]
    expected = model.predict(sample, verbose=0)
    return bool(np.allclose(suffix.predict(activations[: len(sample)], verbose=0), expected, atol=1e-5))


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


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0) -> None:
    """Compile ``model`` as every trial trains: cross-entropy (label-smoothed when > 0) and accuracy."""
    loss = ("sparse_categorical_crossentropy" if label_smoothing == 0 else
            SmoothedSparseCrossentropy(label_smoothing, num_classes=int(model.output_shape[-1])))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


def make_optimizer(run: TrialRun, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The trial's optimiser (``adam``, ``adamw`` or ``sgd_nesterov``) with its learning-rate schedule.

    ``schedule: cosine`` rises linearly from 0 to ``learning_rate`` over ``warmup_epochs`` and then follows a
    cosine down to 0 at the last step (Loshchilov & Hutter 2017; Goyal et al. 2017 for the warm-up).  Weight
    decay (decoupled, AdamW-style) skips BatchNorm's scale and shift and the biases, which it would only pull
    towards zero without regularising anything.
    """
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = run.learning_rate
    if run.schedule == "cosine":
        warmup = run.warmup_epochs * steps_per_epoch
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else run.learning_rate,
            decay_steps=max(run.epochs * steps_per_epoch - warmup, 1),
            warmup_target=run.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if run.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if run.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=run.weight_decay)
    elif run.optimizer == "sgd_nesterov":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True,
                                         weight_decay=run.weight_decay or None)
    else:
        raise UserError(f"trials.{run.name}.optimizer: got {run.optimizer!r}; expected adam, adamw or sgd_nesterov")
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def _check_labels(labels: np.ndarray, num_classes: int, data_dir: Path, split: str) -> None:
    if labels.min() < 0 or labels.max() >= num_classes:
        raise UserError(
            f"{Path(data_dir) / f'{split}.npz'} has labels in [{labels.min()}, {labels.max()}], but the "
            f"model has {num_classes} outputs: re-run `dvc repro prepare` or fix the model's number of classes"
        )


def _check_meta(data_dir: Path, num_classes: int) -> None:
    meta_path = Path(data_dir) / "meta.json"
    if not meta_path.is_file():
        return  # arrays written by hand (tests, notebooks) may come without class names
    emotions = read_emotions(data_dir)
    if len(emotions) != num_classes:
        raise UserError(
            f"{meta_path} lists {len(emotions)} emotions ({', '.join(emotions)}) but the model has {num_classes} "
            "outputs: it was built for other data.emotions (a fine-tuning trial's init_from model, say); rerun "
            "`dvc repro` so that every model is rebuilt for the current data"
        )


def _callbacks(run: TrialRun, plan: _FitPlan) -> tuple[list[keras.callbacks.Callback], Any, _EpochTimer]:
    """The fit callbacks in the order they must run, the EarlyStopping callback (or None) and the epoch timer.

    Cached validation comes first (it writes val_loss/val_accuracy into the logs the others read); the learning
    rate is logged after ReduceLROnPlateau and before DVCLive (appended by the caller) and the progress line.
    """
    callbacks = list(plan.callbacks)
    early_stopping = None
    if run.early_stopping:
        early_stopping = keras.callbacks.EarlyStopping(
            monitor=run.early_stopping_monitor, patience=run.early_stopping_patience, restore_best_weights=True,
            verbose=0,
        )
        callbacks.append(early_stopping)
    if run.reduce_lr.enabled:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss",
                factor=run.reduce_lr.factor,
                patience=run.reduce_lr.patience,
                min_delta=run.reduce_lr.min_delta,
                verbose=1,
            )
        )
    timer = _EpochTimer()
    callbacks += [timer, _LogLearningRate(), EpochProgress(f"train-{run.name}", run.epochs)]
    return callbacks, early_stopping, timer


def train_trial(
    model: keras.Model,
    run: TrialRun,
    *,
    data_dir: Path,
    model_path: Path,
    live_dir: Path,
    extra_metrics: dict | None = None,
    cache_prefix: bool = True,
) -> dict:
    """Compile and fit ``model`` on ``data_dir``'s train split (validating on val) as ``run`` says; save everything.

    The model is (re)compiled here with the trial's optimiser and schedule (:func:`make_optimizer`; the original
    study's trials: Adam at a constant ``run.learning_rate``) and sparse categorical cross-entropy (label-smoothed when
    ``run.label_smoothing`` > 0), on the ``train`` or ``train_full`` split (``run.train_split``), so a loaded
    model whose blocks were just unfrozen for fine-tuning trains with the new trainable set.  Callbacks:
    EarlyStopping on ``run.early_stopping_monitor`` restoring the best weights (``run.early_stopping_patience`` > 0),
    ReduceLROnPlateau on val_loss (``run.reduce_lr.enabled``), DVCLive, and a
    progress line per epoch.  ``cache_prefix`` runs a frozen prefix once (same
    figures to float round-off; see :func:`split_frozen_prefix`).

    Writes ``model_path``, ``live_dir/metrics.json``, ``live_dir/plots/metrics/...`` and
    ``live_dir/timing.json`` (see the module docstring) and returns the content of ``metrics.json``.
    """
    model_path, live_dir, data_dir = Path(model_path), Path(live_dir), Path(data_dir)
    if model_path.suffix != ".keras":
        raise ValueError(f"model_path must end in '.keras', got {str(model_path)!r}")
    _check_extra_metrics(extra_metrics)
    set_global_determinism(run.seed)
    # Under a distribution strategy (see distribution_strategy), batch_size is per replica: scale to the global batch.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    run = dataclasses.replace(run, batch_size=run.batch_size * replicas)
    data = _load_data(model, data_dir, run.train_split)
    weights = compute_class_weights(data.train_labels, int(model.output_shape[-1]), run.class_weight)
    plan = _plan_fit(model, data, run, cache_prefix)
    callbacks, early_stopping, timer = _callbacks(run, plan)

    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    # DVCLive writes into a temporary sibling that replaces live_dir only when everything succeeded.  The path is
    # absolute on purpose: under `dvc exp run`, Live.end() git-adds untracked files matching its (repo-relative)
    # dir, and an absolute temporary path matches nothing, so no phantom temporary files end up in git's index.
    with atomic_dir(live_dir.resolve()) as tmp_live:
        live = Live(dir=str(tmp_live), dvcyaml=False, save_dvc_exp=False, report=None)
        # DVCLive logs before the progress line, so the line is printed when the epoch's logs are complete.
        callbacks.insert(len(callbacks) - 1, DVCLiveCallback(live=live))
        steps_per_epoch = math.ceil(len(data.train_labels) / run.batch_size)
        compile_model(plan.fit_model, make_optimizer(run, steps_per_epoch), run.label_smoothing)
        start = time.perf_counter()
        history = plan.fit_model.fit(
            plan.train_data,
            validation_data=plan.val_data,
            epochs=run.epochs,
            callbacks=callbacks,
            class_weight=weights,
            # The datasets shuffle themselves (seeded); Keras' own shuffle flag does not apply to tf.data.
            shuffle=False,
            verbose=0,
        ).history
        train_seconds = time.perf_counter() - start
        if plan.fit_model is not model:
            # The full model shares the suffix's layers and optimizer, so it saves exactly like the uncached path.
            compile_model(model, plan.fit_model.optimizer, run.label_smoothing)
        saved = early_stopping.best_epoch if early_stopping is not None else len(history["loss"]) - 1
        summary = _final_summary(run, history, saved, model, plan, extra_metrics)
        _write_summary(live, history, saved, summary)
        timing = _timing(plan, timer, train_seconds, len(data.train_labels), steps_per_epoch)
        write_json(tmp_live / "timing.json", timing)
        with atomic_file(model_path) as tmp_model:
            save_model(model, tmp_model)
    metrics = json.loads((live_dir / "metrics.json").read_text())
    print(f"train-{run.name}: {metrics['epochs_run']} epochs, saved epoch {metrics['saved_epoch']} "
          f"(val_acc {metrics['eval']['accuracy']:.3f}, val_loss {metrics['eval']['loss']:.4f}) "
          f"in {train_seconds:.0f} s -> {model_path}")
    return metrics


def _check_extra_metrics(extra_metrics: dict | None) -> None:
    for key, value in (extra_metrics or {}).items():
        if key in _SUMMARY_KEYS:
            raise ValueError(f"extra_metrics key {key!r} clashes with a metric train_trial writes itself")
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"extra_metrics[{key!r}] must be a str, int, float or bool, got {type(value).__name__}")


def _epoch_metrics(history: dict[str, list[float]], index: int) -> dict[str, Any]:
    """DVCLive's layout (``train``/``eval`` -> metric) for epoch ``index`` (0-based) of a Keras history."""
    train = {key: float(values[index]) for key, values in history.items() if not key.startswith("val_")}
    evaluation = {key[4:]: float(values[index]) for key, values in history.items() if key.startswith("val_")}
    return {"train": train, "eval": evaluation, "step": index}


def _write_summary(live, history: dict[str, list[float]], saved: int, summary: dict[str, Any]) -> None:
    """Make metrics.json's top-level figures those of the saved epoch; keep the last epoch's under ``last_epoch``."""
    last = len(history["loss"]) - 1
    live.summary.update(_epoch_metrics(history, saved))
    live.summary["last_epoch"] = {**_epoch_metrics(history, last), "epoch": last + 1}
    live.summary.update(summary)
    # make_summary writes live.step as "step", which DVCLive's callback left at the last epoch.
    live.step = saved
    live.make_summary()


def _timing(plan: _FitPlan, timer: _EpochTimer, train_seconds: float, n_train: int,
            steps_per_epoch: int) -> dict[str, Any]:
    return {
        "train_images": n_train,
        "train_steps_per_epoch": steps_per_epoch,
        "train_seconds": round(train_seconds, 3),
        "frozen_prefix_cache_layer": plan.cache_layer,
        "frozen_prefix_cache_seconds": round(plan.cache_seconds, 3),
        "epoch_seconds": [round(seconds, 3) for seconds in timer.seconds],
        "train_images_per_second": round(n_train * len(timer.seconds) / max(sum(timer.seconds), 1e-9), 1),
    }


def make_feature_dataset(
    features: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int = 0
) -> tf.data.Dataset:
    """Batches of cached prefix activations, shuffled like :func:`emotion_lib.inputs.make_dataset` shuffles images."""
    dataset = tf.data.Dataset.from_tensor_slices((features, labels.astype(np.int64))).cache()
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return without_autotune(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def _final_summary(
    run: TrialRun,
    history: dict[str, list[float]],
    saved: int,
    model: keras.Model,
    plan: _FitPlan,
    extra_metrics: dict | None,
) -> dict[str, Any]:
    """The run-level metrics added to DVCLive's metrics.json (everything deterministic; no timings)."""
    val_loss = [float(value) for value in history["val_loss"]]
    # The best epoch by the early-stopping monitor (the first one, as Keras' EarlyStopping counts it).
    by_accuracy = run.early_stopping_monitor == "val_accuracy"
    best = int(np.argmax(history["val_accuracy"]) if by_accuracy else np.argmin(val_loss))
    epochs_run = len(val_loss)
    summary: dict[str, Any] = {
        "trial": run.name,
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < run.epochs,
        "best_epoch": best + 1,
        "best_epoch_by": run.early_stopping_monitor,
        "best_val_loss": val_loss[best],
        "best_val_accuracy": float(history["val_accuracy"][best]),
        # Which epoch's weights the saved model holds (1-based); train/eval/step above are that epoch's.
        "saved_epoch": saved + 1,
        "trainable_params": count_params(model.trainable_weights),
        "total_params": count_params(model.weights),
        "frozen_prefix_cache": plan.cache_scope or "none",
        "replicas": tf.distribute.get_strategy().num_replicas_in_sync,
        "global_batch_size": run.batch_size,
    }
    summary.update(extra_metrics or {})
    return summary


__all__ = [
    "compute_class_weights",
    "count_params",
    "distribution_strategy",
    "make_feature_dataset",
    "make_optimizer",
    "set_global_determinism",
    "split_frozen_prefix",
    "train_trial",
]
