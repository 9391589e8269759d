"""Run one trial of the study: build (or load) its model, train it, and save model and logs.

This is the glue between a trial's settings and :mod:`emotion_lib.models` /
:mod:`emotion_lib.training`.  It takes explicit keyword arguments (the stage
CLI maps ``params.yaml`` onto them), so tests can run a real trial with a
shrunk configuration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from emotion_lib.errors import UserError

WEIGHTS_FILE = "vgg16_notop.weights.h5"
INFO_FILE = "vgg16.json"


def backbone_source(weights_dir: Path) -> str:
    """The VGG16 backbone's source recorded by the `weights` stage: imagenet, file or random."""
    info_path = Path(weights_dir) / INFO_FILE
    if not info_path.is_file():
        raise UserError(f"{info_path}: missing; run `dvc repro weights` first")
    return json.loads(info_path.read_text())["source"]


def run_trial(
    *,
    trial: str,
    backbone: str,
    data_dir: Path,
    model_path: Path,
    live_dir: Path,
    seed: int,
    # Architecture, for a trial built from scratch or from the VGG16 base.
    image_size: int = 80,
    channels: int = 1,
    padding: str = "valid",
    augmentation: bool = False,
    flatten_dropout_rate: float = 0.0,
    block_dropout_rate: float = 0.0,
    dense_units: int = 0,
    l2: float = 0.0,
    head_dropout_rate: float = 0.0,
    weights_dir: Path | None = None,
    # Fine-tuning: start from another trial's trained model and unfreeze these VGG16 blocks.
    init_model_path: Path | None = None,
    unfreeze: Sequence[str] = (),
    # Optimisation.
    batch_size: int = 32,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    early_stopping: bool = False,
    early_stopping_patience: int = 5,
    class_weight: str = "none",
    reduce_lr: bool = False,
    reduce_lr_factor: float = 0.2,
    reduce_lr_patience: int = 6,
    reduce_lr_min_delta: float = 1e-4,
) -> dict:
    """Build or load the trial's model, train it with :func:`emotion_lib.training.train_trial`, return its summary."""
    # TensorFlow is imported here, not at module level, so `--help` and config errors stay instant.
    import keras

    from emotion_lib import models, training

    training.set_global_determinism(seed)
    if init_model_path is not None and not Path(init_model_path).is_file():
        raise UserError(f"{init_model_path}: missing; run `dvc repro train@{Path(init_model_path).stem}` first")
    extra: dict = {"backbone": backbone}
    if backbone == "vgg16":
        if weights_dir is None:
            raise ValueError("weights_dir is required for a vgg16 trial")
        extra["backbone_source"] = backbone_source(weights_dir)

    if init_model_path is not None:
        init_model_path = Path(init_model_path)
        model = keras.models.load_model(init_model_path, safe_mode=True)
        models.unfreeze_blocks(model, list(unfreeze))
        extra["init_from"] = init_model_path.stem
        cache_features = False
    else:
        weights_path = Path(weights_dir) / WEIGHTS_FILE if backbone == "vgg16" else None
        model = models.build_model(
            backbone=backbone,
            num_classes=_num_classes(data_dir),
            image_size=image_size,
            channels=3 if backbone == "vgg16" else channels,
            padding=padding,
            augmentation=augmentation,
            flatten_dropout_rate=flatten_dropout_rate,
            block_dropout_rate=block_dropout_rate,
            dense_units=dense_units,
            l2=l2,
            head_dropout_rate=head_dropout_rate,
            vgg16_weights_path=weights_path,
            seed=seed,
        )
        # Without augmentation the frozen base sees the same images every epoch: run it once.
        cache_features = backbone == "vgg16" and not augmentation

    return training.train_trial(
        trial=trial,
        model=model,
        data_dir=Path(data_dir),
        batch_size=batch_size,
        epochs=epochs,
        learning_rate=learning_rate,
        early_stopping=early_stopping,
        early_stopping_patience=early_stopping_patience,
        class_weight=class_weight,
        reduce_lr=reduce_lr,
        reduce_lr_factor=reduce_lr_factor,
        reduce_lr_patience=reduce_lr_patience,
        reduce_lr_min_delta=reduce_lr_min_delta,
        cache_features=cache_features,
        seed=seed,
        model_path=Path(model_path),
        live_dir=Path(live_dir),
        extra_metrics=extra,
    )


def _num_classes(data_dir: Path) -> int:
    meta_path = Path(data_dir) / "meta.json"
    if not meta_path.is_file():
        raise UserError(f"{meta_path}: missing; run `dvc repro prepare` first")
    return len(json.loads(meta_path.read_text())["emotions"])
