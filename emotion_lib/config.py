"""Typed, validated view of ``params.yaml``.

``params.yaml`` is the single source of truth.  :func:`load_config` reads it
once into frozen dataclasses, checking every key's type and range and turning
an unknown key into an error that suggests the nearest known one (a typo such
as ``model.dropuot`` must never be silently ignored).  The library itself takes
typed objects resolved from it (:meth:`Config.trial_run` gives one trial's
:class:`TrialRun`); only the stage CLIs read params.yaml.

:func:`stage_param_keys` says which params keys each DVC stage reads, so a test
can check that ``dvc.yaml`` declares exactly those keys: a stage that reads an
undeclared key would go stale silently.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from emotion_lib import EMOTIONS
from emotion_lib.architecture import (
    BACKBONES,
    INITIALIZERS,
    INPUT_SCALINGS,
    PADDINGS,
    ROTATION_FACTOR,
    VGG16_BLOCKS,
    VGG16_MIN_INPUT_SIZE,
    ZOOM_FACTOR,
    Augmentation,
    ModelSpec,
    ScratchSpec,
    VGG16Spec,
    VggBnSpec,
    min_input_size,
)
from emotion_lib.errors import UserError

DISTRIBUTE_MODES = ("none", "mirrored")
# train.precision; emotion_lib.precision resolves auto on the machine that trains.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
OPTIMIZERS = ("adam", "adamw", "sgd_nesterov")
SCHEDULES = ("constant", "cosine")
# Which training split a trial fits on: the original study's balanced, undersampled one, or every deduplicated
# image.
TRAIN_SPLITS = ("undersampled", "full")
# balanced: n / (k * count) per class (sklearn's); sqrt: its square root, rescaled to average 1 over the images.
CLASS_WEIGHT_MODES = ("none", "balanced", "sqrt")
EARLY_STOPPING_MONITORS = ("val_accuracy", "val_loss")
# A quarter of FER-2013's 48 px: shifted further, a face loses its mouth or its eyes.
MAX_TEST_TIME_SHIFT = 12
# Upper bounds that keep a typo from building a model that exhausts memory or never finishes (a trillion dense
# units, a billion convs): far above anything the study or a laptop uses.
MAX_WIDTH = 65536
MAX_BLOCKS = 9  # 2**9 = 512 px, the largest input
MAX_CONVS_PER_BLOCK = 16
KNOWN_EXTENSIONS = ("jpeg", "jpg", "png", "bmp", "gif", "tif", "tiff", "webp")
# A trial's name: it names the trial's DVC stages, model file and metrics folder.
TRIAL_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Augmentation strengths: read only by a trial with augmentation on.
AUGMENTATION_KEYS = ("shift", "rotation", "zoom", "erasing")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """The embedded FER-like dataset (stage ``synthesize``)."""

    scale: float = 0.5

    def validate(self) -> None:
        _check(0 < self.scale <= 4, "synthetic.scale", self.scale, "a fraction of FER-2013's size in (0, 4]")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the raw images are and how ``prepare`` cleans, splits and balances them."""

    source: str = "folder"
    raw_dir: str = "data/raw/synthetic"
    csv_file: str = "fer2013.csv"
    emotions: tuple[str, ...] = EMOTIONS
    extensions: tuple[str, ...] = ("jpeg", "jpg", "png")
    image_size: int = 48
    val_fraction: float = 0.2
    undersample: bool = True
    samples_per_class: int | None = None

    def validate(self) -> None:
        _check(self.source in ("folder", "csv"), "data.source", self.source, "'folder' or 'csv'")
        _check(self.source != "csv" or bool(self.csv_file.strip()), "data.csv_file", self.csv_file,
               "the CSV's file name inside data.raw_dir, e.g. fer2013.csv")
        _check(bool(self.raw_dir), "data.raw_dir", self.raw_dir, "a folder path")
        _check(len(self.emotions) >= 2, "data.emotions", list(self.emotions), "at least two emotions")
        for emotion in self.emotions:
            _check(emotion in EMOTIONS, "data.emotions", emotion, f"one of {', '.join(EMOTIONS)}")
        _check(len(set(self.emotions)) == len(self.emotions), "data.emotions", list(self.emotions), "no repeats")
        _check(len(self.extensions) > 0, "data.extensions", list(self.extensions), "a non-empty list, e.g. [jpg, png]")
        for ext in self.extensions:
            _check(ext.lower().lstrip(".") in KNOWN_EXTENSIONS, "data.extensions", ext,
                   f"one of {', '.join(KNOWN_EXTENSIONS)}")
        _check(8 <= self.image_size <= 512, "data.image_size", self.image_size, "an integer in [8, 512]")
        _check(0 < self.val_fraction < 1, "data.val_fraction", self.val_fraction, "a fraction in (0, 1), e.g. 0.2")
        if self.samples_per_class is not None:
            _check(self.samples_per_class > 0, "data.samples_per_class", self.samples_per_class,
                   "a positive integer, or null for the minority-class count")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Input and shared layers of the scratch trials (and the VGG16 head's dropout)."""

    image_size: int = 80
    channels: int = 1
    padding: str = "valid"
    dropout: float = 0.5
    initializer: str = "he_normal"
    input_scaling: str = "centered"

    def validate(self) -> None:
        _check(self.initializer in INITIALIZERS, "model.initializer", self.initializer,
               f"one of {', '.join(INITIALIZERS)}")
        _check(self.input_scaling in INPUT_SCALINGS, "model.input_scaling", self.input_scaling,
               f"one of {', '.join(INPUT_SCALINGS)}")
        _check(self.channels in (1, 3), "model.channels", self.channels, "1 (grayscale) or 3 (RGB)")
        _check(self.padding in PADDINGS, "model.padding", self.padding, "'valid' or 'same'")
        _check(0 <= self.dropout < 1, "model.dropout", self.dropout, "a rate in [0, 1)")
        minimum = min_input_size(self.padding)
        if not minimum <= self.image_size <= 512:
            hint = " or set model.padding: same" if self.padding == "valid" else ""
            raise UserError(f"model.image_size: {self.image_size} is out of range for {self.padding} padding; "
                            f"use an integer in [{minimum}, 512]{hint}")


@dataclasses.dataclass(frozen=True)
class PretrainedConfig:
    """Where the VGG16 backbone's weights come from, and its input size."""

    weights: str = "imagenet"
    strict: bool = False
    image_size: int = 48

    def validate(self) -> None:
        _check(bool(self.weights), "pretrained.weights", self.weights, "imagenet, none, or a path to a Keras .h5")
        _check(VGG16_MIN_INPUT_SIZE <= self.image_size <= 512, "pretrained.image_size", self.image_size,
               f"an integer in [{VGG16_MIN_INPUT_SIZE}, 512] (VGG16 needs at least 32 px)")


@dataclasses.dataclass(frozen=True)
class ReduceLRConfig:
    """ReduceLROnPlateau on val_loss, as in a sister study of the original (factor 0.2, patience 6, min_delta 1e-4)."""

    enabled: bool = False
    factor: float = 0.2
    patience: int = 6
    min_delta: float = 0.0001

    def validate(self) -> None:
        _check(0 < self.factor < 1, "train.reduce_lr.factor", self.factor, "a factor in (0, 1)")
        _check(self.patience >= 1, "train.reduce_lr.patience", self.patience, "a positive integer")
        _check(self.min_delta >= 0, "train.reduce_lr.min_delta", self.min_delta, "a non-negative number")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings every trial shares; per-trial ones (epochs, learning rate, patience) live in trials."""

    batch_size: int = 32
    class_weight: str = "none"
    reduce_lr: ReduceLRConfig = dataclasses.field(default_factory=ReduceLRConfig)
    # none | mirrored: tf.distribute.MirroredStrategy over every visible device, batch_size per replica.
    distribute: str = "none"
    # What EarlyStopping watches (and restores the best epoch of): val_accuracy or val_loss (Keras' default).
    early_stopping_monitor: str = "val_accuracy"
    # Keras dtype policy of every trial. auto: mixed_bfloat16 where the CPU runs bfloat16 natively (AMX /
    # AVX512-BF16), mixed_float16 on a GPU, float32 otherwise (emotion_lib.precision).
    precision: str = "auto"

    def validate(self) -> None:
        _check(self.precision in PRECISIONS, "train.precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        _check(self.early_stopping_monitor in EARLY_STOPPING_MONITORS, "train.early_stopping_monitor",
               self.early_stopping_monitor, f"one of {', '.join(EARLY_STOPPING_MONITORS)}")
        _check(self.distribute in DISTRIBUTE_MODES, "train.distribute", self.distribute,
               f"one of {', '.join(DISTRIBUTE_MODES)}")
        _check(1 <= self.batch_size <= 4096, "train.batch_size", self.batch_size, "a positive integer")
        _check(self.class_weight in CLASS_WEIGHT_MODES, "train.class_weight", self.class_weight,
               f"one of {', '.join(CLASS_WEIGHT_MODES)}")
        self.reduce_lr.validate()


@dataclasses.dataclass(frozen=True)
class ViewsConfig:
    """Test-time views of one trial's evaluation (``evaluate.<trial>``; a trial without an entry gets one pass).

    ``test_time_flip`` averages each test image's prediction with its mirror image's; ``test_time_shift`` (pixels,
    0 = off) adds the image moved that far up, down, left and right (each mirrored too when flipping).
    """

    test_time_flip: bool = False
    test_time_shift: int = 0


@dataclasses.dataclass(frozen=True)
class TrialConfig:
    """What every trial sets, whatever its backbone: the optimisation, the data it fits on, its augmentation.

    One subclass per backbone adds that backbone's keys (:data:`TRIAL_TYPES`); a key another backbone reads is
    unknown to it, and refused as any typo is.  Each subclass turns itself into the spec its model builder takes
    (:meth:`model_spec`) and names the shared params keys it reads for that (:meth:`shared_param_keys`), so what
    a stage reads and what ``dvc.yaml`` declares come from one place.
    """

    name: str
    backbone: str
    epochs: int = 10
    learning_rate: float = 0.001
    # EarlyStopping on train.early_stopping_monitor, restoring the best weights; 0 trains for all epochs.
    early_stopping_patience: int = 0
    # undersampled: the original study's balanced split; full: every deduplicated training image outside val.
    train_split: str = "undersampled"
    # null: train.batch_size / train.class_weight. A trial that sets its own no longer reads (nor reruns on) those.
    batch_size: int | None = None
    class_weight: str | None = None
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    # Augmentation (see architecture.Augmentation); the strengths apply only with augmentation on.
    augmentation: bool = False
    shift: float = 0.0
    rotation: float = ROTATION_FACTOR
    zoom: float = ZOOM_FACTOR
    erasing: float = 0.0
    # The trial's own seed for its weights, augmentation and shuffling (null: the global seed). The data split
    # always follows the global seed, so trials that differ only here fit and are validated on the same images:
    # seed variance, or members of an ensemble.
    seed: int | None = None

    # Keys that shape the model: a trial that starts from another trial's model (init_from) inherits them.
    ARCHITECTURE_KEYS: typing.ClassVar[tuple[str, ...]] = ("augmentation", *AUGMENTATION_KEYS)

    @property
    def init_from(self) -> str | None:
        return None

    @property
    def unfreeze(self) -> tuple[str, ...]:
        return ()

    def validate(self, trials: Mapping[str, Any]) -> None:
        """Check every key (``trials`` is the raw ``trials`` mapping, for keys that name another trial)."""
        key = f"trials.{self.name}"
        _check(1 <= self.epochs <= 10000, f"{key}.epochs", self.epochs, "a positive integer")
        _check(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a rate in (0, 1)")
        _check(self.early_stopping_patience >= 0, f"{key}.early_stopping_patience", self.early_stopping_patience,
               "a non-negative integer (0 turns early stopping off)")
        _check(self.train_split in TRAIN_SPLITS, f"{key}.train_split", self.train_split,
               f"one of {', '.join(TRAIN_SPLITS)}")
        _check(self.batch_size is None or 1 <= self.batch_size <= 4096, f"{key}.batch_size", self.batch_size,
               "a positive integer, or null for train.batch_size")
        _check(self.class_weight is None or self.class_weight in CLASS_WEIGHT_MODES, f"{key}.class_weight",
               self.class_weight, f"one of {', '.join(CLASS_WEIGHT_MODES)}, or null for train.class_weight")
        _check(self.optimizer in OPTIMIZERS, f"{key}.optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
        _check(0 <= self.weight_decay < 1, f"{key}.weight_decay", self.weight_decay, "a number in [0, 1)")
        _check(self.weight_decay == 0 or self.optimizer != "adam", f"{key}.weight_decay", self.weight_decay,
               "0 with optimizer adam (use adamw for decoupled weight decay)")
        _check(self.schedule in SCHEDULES, f"{key}.schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")
        _check(0 <= self.warmup_epochs < self.epochs, f"{key}.warmup_epochs", self.warmup_epochs,
               f"an integer in [0, epochs) (epochs is {self.epochs})")
        _check(self.warmup_epochs == 0 or self.schedule != "constant", f"{key}.warmup_epochs", self.warmup_epochs,
               "0 with schedule constant (a warm-up belongs to a schedule: set schedule to cosine, or remove the key)")
        _check(0 <= self.label_smoothing < 1, f"{key}.label_smoothing", self.label_smoothing, "a number in [0, 1)")
        for name in ("shift", "rotation", "zoom"):
            _check(0 <= getattr(self, name) < 1, f"{key}.{name}", getattr(self, name), "a fraction in [0, 1)")
        _check(0 <= self.erasing <= 1, f"{key}.erasing", self.erasing, "a probability in [0, 1]")
        _check(self.seed is None or 0 <= self.seed < 2**32, f"{key}.seed", self.seed,
               "an integer in [0, 2**32 - 1], or null for the global seed")

    def augmentation_spec(self) -> Augmentation:
        return Augmentation(enabled=self.augmentation, shift=self.shift, rotation=self.rotation, zoom=self.zoom,
                            erasing=self.erasing)

    def model_spec(self, config: Config) -> ModelSpec | None:
        """What this backbone's builder takes, read from this trial and the shared sections of ``config``;
        None for a trial that starts from ``init_from``'s trained model."""
        raise NotImplementedError

    def shared_param_keys(self) -> list[str]:
        """The keys outside ``trials.<name>`` and ``train`` that :meth:`model_spec` reads."""
        raise NotImplementedError

    def _validate_init_from(self, trials: Mapping[str, Any]) -> None:
        key = f"trials.{self.name}.init_from"
        others = [str(name) for name in trials if name != self.name]
        _check(self.init_from in trials and self.init_from != self.name, key, self.init_from,
               f"another trial's name ({', '.join(others)})")
        base = trials[self.init_from]
        _check(isinstance(base, Mapping) and base.get("backbone") == self.backbone, key, self.init_from,
               f"a trial with the same backbone ({self.backbone})")


@dataclasses.dataclass(frozen=True)
class ScratchTrial(TrialConfig):
    """The original study's five-convolution CNN, trained from scratch (its input is ``model.*``)."""

    # Dropout(model.dropout) after Flatten.
    flatten_dropout: bool = False
    # Dropout after every convolution.
    block_dropout: float = 0.0
    # A Dense(dense_units, ReLU) before the classifier (0: none), L2-regularised by l2.
    dense_units: int = 0
    l2: float = 0.0
    # Start from another scratch trial's trained model (its architecture keys are inherited).
    init_from: str | None = None

    ARCHITECTURE_KEYS: typing.ClassVar[tuple[str, ...]] = (
        *TrialConfig.ARCHITECTURE_KEYS, "flatten_dropout", "block_dropout", "dense_units", "l2")

    def validate(self, trials: Mapping[str, Any]) -> None:
        super().validate(trials)
        key = f"trials.{self.name}"
        _check(0 <= self.block_dropout < 1, f"{key}.block_dropout", self.block_dropout, "a rate in [0, 1)")
        _check(0 <= self.dense_units <= MAX_WIDTH, f"{key}.dense_units", self.dense_units,
               f"an integer in [0, {MAX_WIDTH}]")
        _check(self.l2 >= 0, f"{key}.l2", self.l2, "a non-negative number")
        _check(self.l2 == 0 or self.dense_units > 0, f"{key}.l2", self.l2,
               "0 unless dense_units adds the Dense layer it regularises")
        if self.init_from is not None:
            self._validate_init_from(trials)

    def model_spec(self, config: Config) -> ScratchSpec | None:
        if self.init_from is not None:
            return None
        model = config.model
        return ScratchSpec(image_size=model.image_size, channels=model.channels, padding=model.padding,
                           initializer=model.initializer, input_scaling=model.input_scaling,
                           augmentation=self.augmentation_spec(),
                           flatten_dropout=model.dropout if self.flatten_dropout else 0.0,
                           block_dropout=self.block_dropout, dense_units=self.dense_units, l2=self.l2)

    def shared_param_keys(self) -> list[str]:
        if self.init_from is not None:
            return []
        keys = ["model.image_size", "model.channels", "model.padding", "model.initializer", "model.input_scaling"]
        return keys + (["model.dropout"] if self.flatten_dropout else [])


@dataclasses.dataclass(frozen=True)
class VGG16Trial(TrialConfig):
    """The original study's transfer learning: a frozen VGG16 base (``pretrained.*``) and a head, or fine-tuning."""

    # Flatten -> Dense(dense_units) -> Dropout(model.dropout) -> classifier on the frozen base.
    dense_units: int = 0
    # Fine-tuning: start from another VGG16 trial's trained model and make these blocks trainable.
    init_from: str | None = None
    unfreeze: tuple[str, ...] = ()

    ARCHITECTURE_KEYS: typing.ClassVar[tuple[str, ...]] = (*TrialConfig.ARCHITECTURE_KEYS, "dense_units")

    def validate(self, trials: Mapping[str, Any]) -> None:
        super().validate(trials)
        key = f"trials.{self.name}"
        for block in self.unfreeze:
            _check(block in VGG16_BLOCKS, f"{key}.unfreeze", block, f"one of {', '.join(VGG16_BLOCKS)}")
        if self.init_from is not None:
            self._validate_init_from(trials)
            return
        _check(not self.unfreeze, f"{key}.unfreeze", list(self.unfreeze),
               "empty without init_from (blocks are unfrozen in a trained model that init_from names)")
        _check(0 < self.dense_units <= MAX_WIDTH, f"{key}.dense_units", self.dense_units,
               f"an integer in [1, {MAX_WIDTH}] for VGG16's head")

    def model_spec(self, config: Config) -> VGG16Spec | None:
        if self.init_from is not None:
            return None
        return VGG16Spec(image_size=config.pretrained.image_size, dense_units=self.dense_units,
                         head_dropout=config.model.dropout, augmentation=self.augmentation_spec())

    def shared_param_keys(self) -> list[str]:
        return [] if self.init_from is not None else ["pretrained.image_size", "model.dropout"]


@dataclasses.dataclass(frozen=True)
class VggBnTrial(TrialConfig):
    """A VGG-style CNN with batch normalisation at FER-2013's 48x48x1; reads no shared model section."""

    image_size: int = 48
    # Conv widths, one block per entry; each block halves the input.
    widths: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_block: int = 2
    # Dense(dense_units) -> BatchNorm -> ReLU -> Dropout(dropout) before the classifier (0: none).
    dense_units: int = 256
    dropout: float = 0.4

    def validate(self, trials: Mapping[str, Any]) -> None:
        super().validate(trials)
        key = f"trials.{self.name}"
        _check(0 < len(self.widths) <= MAX_BLOCKS and all(0 < w <= MAX_WIDTH for w in self.widths), f"{key}.widths",
               list(self.widths), f"1 to {MAX_BLOCKS} conv widths in [1, {MAX_WIDTH}], one per block (each block "
               f"halves the input, at most 512 px), e.g. [24, 48, 96, 192]")
        _check(1 <= self.convs_per_block <= MAX_CONVS_PER_BLOCK, f"{key}.convs_per_block", self.convs_per_block,
               f"an integer in [1, {MAX_CONVS_PER_BLOCK}]")
        _check(0 <= self.dense_units <= MAX_WIDTH, f"{key}.dense_units", self.dense_units,
               f"an integer in [0, {MAX_WIDTH}]")
        _check(0 <= self.dropout < 1, f"{key}.dropout", self.dropout, "a rate in [0, 1)")
        _check(self.dropout == 0 or self.dense_units > 0, f"{key}.dropout", self.dropout,
               "0 unless dense_units adds the hidden layer it follows")
        smallest = 2 ** len(self.widths)
        _check(smallest <= self.image_size <= 512, f"{key}.image_size", self.image_size,
               f"an integer in [{smallest}, 512] (each of the {len(self.widths)} blocks halves it)")

    def model_spec(self, config: Config) -> VggBnSpec:
        return VggBnSpec(image_size=self.image_size, widths=tuple(self.widths), convs_per_block=self.convs_per_block,
                         dense_units=self.dense_units, dropout=self.dropout, augmentation=self.augmentation_spec())

    def shared_param_keys(self) -> list[str]:
        return []


# The one dispatch from a trial's `backbone` to its config (and, through model_spec, to its model builder).
TRIAL_TYPES: dict[str, type[TrialConfig]] = {"scratch": ScratchTrial, "vgg16": VGG16Trial, "vgg_bn": VggBnTrial}
assert tuple(TRIAL_TYPES) == BACKBONES


@dataclasses.dataclass(frozen=True)
class TrialRun:
    """One ``train-<trial>`` run resolved from ``params.yaml``: everything the trainer receives, nothing more.

    ``model`` is the spec its backbone's builder takes, or None for a trial that starts from ``init_from``'s
    trained model (fine-tuning), whose architecture it inherits.
    """

    name: str
    backbone: str
    seed: int
    model: ModelSpec | None
    epochs: int
    learning_rate: float
    # EarlyStopping on early_stopping_monitor, restoring the best weights; 0 trains for all epochs.
    early_stopping_patience: int
    batch_size: int
    class_weight: str
    reduce_lr: ReduceLRConfig = dataclasses.field(default_factory=ReduceLRConfig)
    # "mirrored": data-parallel over every visible device, batch_size per replica (see emotion_lib.training).
    distribute: str = "none"
    # The same default as train.early_stopping_monitor, so a TrialRun built by hand watches what a stage would.
    early_stopping_monitor: str = TrainConfig.early_stopping_monitor
    init_from: str | None = None
    unfreeze: tuple[str, ...] = ()
    train_split: str = "undersampled"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    # train.precision as written (auto is resolved on the machine that trains: emotion_lib.precision).
    precision: str = "float32"

    @property
    def early_stopping(self) -> bool:
        return self.early_stopping_patience > 0


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole of ``params.yaml``."""

    seed: int = 42
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    pretrained: PretrainedConfig = dataclasses.field(default_factory=PretrainedConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    evaluate: Mapping[str, ViewsConfig] = dataclasses.field(default_factory=dict)
    trials: Mapping[str, TrialConfig] = dataclasses.field(default_factory=dict)

    def trial(self, name: str) -> TrialConfig:
        """Return one trial's config, or a UserError listing the known trials."""
        if name not in self.trials:
            raise UserError(_unknown_message(f"unknown trial '{name}'", name, self.trials, "trials"))
        return self.trials[name]

    def trial_run(self, name: str) -> TrialRun:
        """Resolve trial ``name`` for training, reading exactly the keys :func:`stage_param_keys` lists for it."""
        trial = self.trial(name)
        train = self.train
        return TrialRun(
            name=trial.name,
            backbone=trial.backbone,
            seed=self.seed if trial.seed is None else trial.seed,
            model=trial.model_spec(self),
            epochs=trial.epochs,
            learning_rate=trial.learning_rate,
            early_stopping_patience=trial.early_stopping_patience,
            batch_size=train.batch_size if trial.batch_size is None else trial.batch_size,
            class_weight=train.class_weight if trial.class_weight is None else trial.class_weight,
            # Field by field (not a copy of the object), so that the stage's read of each key is visible to tests.
            reduce_lr=ReduceLRConfig(enabled=train.reduce_lr.enabled, factor=train.reduce_lr.factor,
                                     patience=train.reduce_lr.patience, min_delta=train.reduce_lr.min_delta),
            distribute=train.distribute,
            early_stopping_monitor=train.early_stopping_monitor,
            init_from=trial.init_from,
            unfreeze=tuple(trial.unfreeze),
            train_split=trial.train_split,
            optimizer=trial.optimizer,
            weight_decay=trial.weight_decay,
            schedule=trial.schedule,
            warmup_epochs=trial.warmup_epochs,
            label_smoothing=trial.label_smoothing,
            precision=train.precision,
        )

    def views(self, trial: str) -> ViewsConfig:
        """The test-time views ``evaluate-<trial>`` scores with (``evaluate.<trial>``; one pass without an entry)."""
        name = self.trial(trial).name
        return self.evaluate[name] if name in self.evaluate else ViewsConfig()

    def test_time_flip(self, trial: str) -> bool:
        """Whether ``evaluate-<trial>`` averages each test image's prediction with its mirror image's."""
        return self.views(trial).test_time_flip

    def test_time_shift(self, trial: str) -> int:
        """How many pixels ``evaluate-<trial>`` also shifts each test image by (0: no shifted views)."""
        return self.views(trial).test_time_shift


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate ``params.yaml``; any problem is a one-line :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: params file not found; run from the repository root, where params.yaml lives")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}; fix the syntax") from None
    if not isinstance(raw, Mapping):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any]) -> Config:
    """Build a validated :class:`Config` from a params mapping (as parsed from YAML)."""
    raw = dict(raw)
    trials_raw = raw.pop("trials", None)
    evaluate_raw = raw.pop("evaluate", None)
    if not isinstance(trials_raw, Mapping) or not trials_raw:
        raise UserError("trials: missing or empty; define the study's trials in params.yaml")
    config = _build(Config, raw, prefix="")
    # numpy and TensorFlow seed with an unsigned 32-bit integer.
    _check(0 <= config.seed < 2**32, "seed", config.seed, "an integer in [0, 2**32 - 1]")
    for name in trials_raw:  # Every name first: a check of one trial lists the others' names.
        _check_trial_name(name)
    trials = {name: _build_trial(name, body, trials_raw) for name, body in trials_raw.items()}
    for trial in trials.values():
        if trial.schedule != "constant" and config.train.reduce_lr.enabled:
            raise UserError(f"trials.{trial.name}.schedule: {trial.schedule} sets the learning rate itself; set it "
                            "to constant or train.reduce_lr.enabled to false")
    return dataclasses.replace(config, trials=types.MappingProxyType(trials),
                               evaluate=types.MappingProxyType(_build_views(evaluate_raw, trials)))


def _check_trial_name(name: Any) -> None:
    # A trial's name names its DVC stages (train-<name>), model file and metrics folder. YAML makes `1:` an int
    # and `yes:` a bool: refused here too.
    if not isinstance(name, str) or not TRIAL_NAME.fullmatch(name):
        raise UserError(f"trials.{name}: not a trial name; use lowercase letters, digits and underscores, starting "
                        "with a letter (it names the trial's DVC stages, model file and metrics folder)")


def _build_trial(name: str, body: Any, trials_raw: Mapping[str, Any]) -> TrialConfig:
    """One trial's typed config: its backbone picks the class (:data:`TRIAL_TYPES`), which checks every key."""
    if not isinstance(body, Mapping):
        raise UserError(f"trials.{name}: expected a mapping of the trial's settings")
    backbone = body.get("backbone")
    if backbone not in TRIAL_TYPES:
        _check(False, f"trials.{name}.backbone", backbone, f"one of {', '.join(TRIAL_TYPES)}")
    cls = TRIAL_TYPES[backbone]
    starts_from = body.get("init_from") and "init_from" in {field.name for field in dataclasses.fields(cls)}
    inherited = sorted(set(body) & set(cls.ARCHITECTURE_KEYS)) if starts_from else []
    if inherited:
        raise UserError(f"trials.{name}.{inherited[0]}: the architecture comes from init_from "
                        f"'{body['init_from']}'; remove the key or drop init_from")
    # Augmentation strengths with augmentation off would be silently ignored (their defaults are not 0).
    unused = sorted(set(body) & set(AUGMENTATION_KEYS)) if not body.get("augmentation") else []
    if unused:
        raise UserError(f"trials.{name}.{unused[0]}: only applies with augmentation on; set "
                        f"trials.{name}.augmentation: true or remove the key")
    trial = _build(cls, {**body, "name": name}, prefix=f"trials.{name}")
    trial.validate(trials_raw)
    return trial


def _build_views(raw: Any, trials: Mapping[str, TrialConfig]) -> dict[str, ViewsConfig]:
    """``evaluate``: one optional entry per trial, each checked like any section."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise UserError(f"evaluate: got {raw!r}; expected a mapping of trial names to test-time views")
    views = {}
    for name, body in raw.items():
        if name not in trials:
            raise UserError(_unknown_message(f"evaluate.{name}: unknown trial", str(name), trials, "trials"))
        views[name] = _build(ViewsConfig, body, prefix=f"evaluate.{name}")
        shift = views[name].test_time_shift
        _check(0 <= shift <= MAX_TEST_TIME_SHIFT, f"evaluate.{name}.test_time_shift", shift,
               f"a whole number of pixels from 0 (off) to {MAX_TEST_TIME_SHIFT}")
    return views


def stage_param_keys(config: Config, stage: str, trial: str | None = None) -> list[str]:
    """The params keys a stage reads, as ``dvc.yaml`` must declare them (sorted, deduplicated)."""
    if stage == "synthesize":
        keys = ["seed", "synthetic.scale"]
    elif stage == "prepare":
        keys = ["seed", *(f"data.{field.name}" for field in dataclasses.fields(DataConfig))]
    elif stage == "weights":
        keys = ["seed", "pretrained.weights", "pretrained.strict"]
    elif stage == "train":
        spec = config.trial(trial or "")
        own = {name for name in ("batch_size", "class_weight") if getattr(spec, name) is not None}
        keys = ["seed", f"trials.{spec.name}", *spec.shared_param_keys(),
                *(f"train.{field.name}" for field in dataclasses.fields(TrainConfig) if field.name not in own)]
    elif stage == "evaluate":
        name = config.trial(trial or "").name
        keys = [f"evaluate.{name}"] if name in config.evaluate else []
    elif stage == "summary":
        keys = ["trials"]
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return sorted(set(keys))


# --- helpers -----------------------------------------------------------------------------------------------------


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise UserError(f"{key}: got {value!r}; expected {expected}")


def _unknown_message(what: str, name: str, known: typing.Iterable[str], section: str) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{what}; {hint}known {section}: {', '.join(known)}"


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, type-checking every field and rejecting unknown keys."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise UserError(f"{prefix or 'params.yaml'}: expected a mapping, got {type(raw).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            options = [name for name in fields if name != "name"]
            close = difflib.get_close_matches(str(key), options, n=1, cutoff=0.5)
            hint = f"did you mean '{prefix + '.' if prefix else ''}{close[0]}'? " if close else ""
            where = prefix or "params.yaml"
            raise UserError(f"{dotted}: unknown key; {hint}known keys in {where}: {', '.join(options)}")
    values = {}
    for name in fields:
        if name not in raw:
            continue
        dotted = f"{prefix}.{name}" if prefix else name
        values[name] = _coerce(hints[name], raw[name], dotted)
    instance = cls(**values)
    if hasattr(instance, "validate") and not isinstance(instance, TrialConfig):
        instance.validate()
    return instance


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type hint, converting lists to tuples and ints to floats where lossless."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        return _coerce(inner[0], value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise UserError(f"{key}: got {value!r}; expected a list")
        return tuple(_coerce(args[0], item, key) for item in value)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise UserError(f"{key}: got {value!r}; expected a mapping of trial names to values")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{key}: got {value!r}; expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{key}: got {value!r}; expected an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{key}: got {value!r}; expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise UserError(f"{key}: got {value!r}; expected a string")
        return value
    raise TypeError(f"unsupported type hint {hint!r} for {key}")


def main(argv: typing.Sequence[str] | None = None) -> None:
    """``python -m emotion_lib.config [--params FILE]``: check the whole params file, every key of every section.

    A stage checks the whole file too, but ``dvc repro`` runs no stage for a key no stage declares (a typo).
    """
    from emotion_lib.cli import parser_for, run_stage

    def check(args) -> None:
        config = load_config(args.params)
        print(f"{args.params}: valid ({len(config.trials)} trials: {', '.join(config.trials)})")

    run_stage(check, parser_for("Check a params file: every section, key and value, and every trial."), argv)


if __name__ == "__main__":
    main()
