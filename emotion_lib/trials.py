"""Run one trial of the study: build (or load) its model, train it, and save model and logs.

The glue between a resolved :class:`~emotion_lib.config.TrialRun` and
:mod:`emotion_lib.models` / :mod:`emotion_lib.training`: the stage CLI resolves
params.yaml into a ``TrialRun``, and tests run real trials with a shrunk one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from emotion_lib.architecture import VGG16Spec
from emotion_lib.config import TrialRun


def run_trial(run: TrialRun, *, data_dir: Path, model_path: Path, live_dir: Path, models_dir: Path = Path("models"),
              weights_dir: Path | None = None) -> dict:
    """Build ``run``'s model (or load ``models_dir/<init_from>.keras``, unfreezing blocks), train it; return metrics.

    ``weights_dir`` holds the VGG16 weights resolved by the ``weights`` stage
    (see :mod:`emotion_lib.pretrained`); it is required for a VGG16 trial.
    """
    # TensorFlow is imported here, not at module level, so `--help` and config errors stay instant.
    from emotion_lib import training
    from emotion_lib.precision import dtype_policy, machine_precision, onednn_enabled

    training.set_global_determinism(run.seed)
    policy = machine_precision(run.precision)
    # The model's variables must be created inside the strategy's scope (a no-op scope without distribution),
    # and its layers under the dtype policy they compute in.
    with dtype_policy(policy), training.distribution_strategy(run.distribute).scope():
        return _build_and_train(run, data_dir=data_dir, model_path=model_path, live_dir=live_dir,
                                models_dir=models_dir, weights_dir=weights_dir, precision=policy,
                                onednn=onednn_enabled())


def _build_and_train(run: TrialRun, *, data_dir: Path, model_path: Path, live_dir: Path, models_dir: Path,
                     weights_dir: Path | None, precision: str, onednn: bool) -> dict:
    from emotion_lib import models, pretrained, training

    extra: dict = {"backbone": run.backbone, "precision": precision, "onednn": onednn, "train_split": run.train_split}
    if run.backbone == "vgg16" and weights_dir is None:
        raise ValueError("weights_dir is required for a vgg16 trial")
    if run.init_from is not None:
        init_path = Path(models_dir) / f"{run.init_from}.keras"
        model = models.load_model(init_path, remedy=f"run `dvc repro train-{run.init_from}` first")
        models.unfreeze_blocks(model, list(run.unfreeze))
        extra["init_from"] = run.init_from
    elif run.model is not None:
        spec = run.model
        if isinstance(spec, VGG16Spec):
            spec = dataclasses.replace(spec, weights_path=str(Path(weights_dir) / pretrained.WEIGHTS_FILE))
        model = models.build_model(spec, num_classes=_num_classes(data_dir), seed=run.seed)
    else:
        raise ValueError(f"trial {run.name!r} has neither a model spec nor init_from")
    if run.backbone == "vgg16":
        extra["backbone_source"] = pretrained.backbone_source(weights_dir)
    return training.train_trial(
        model, run, data_dir=Path(data_dir), model_path=Path(model_path), live_dir=Path(live_dir), extra_metrics=extra
    )


def _num_classes(data_dir: Path) -> int:
    from emotion_lib.inputs import read_emotions

    return len(read_emotions(data_dir))
