"""Stage `train@<trial>`: build the trial's model from params.yaml and train it on data/prepared."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage

DATA_DIR = Path("data/prepared")
WEIGHTS_DIR = Path("models/pretrained")


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.trials import run_trial

    config = load_config(args.params)
    trial = config.trial(args.trial)
    # Read only the keys this trial's dvc.yaml stage declares (see config.stage_param_keys): a trial that
    # starts from another trial's model inherits its architecture, and only dropout trials read model.dropout.
    architecture = {}
    if trial.init_from is None:
        if trial.backbone == "scratch":
            architecture = dict(image_size=config.model.image_size, channels=config.model.channels,
                                padding=config.model.padding, block_dropout_rate=trial.block_dropout,
                                dense_units=trial.dense_units, l2=trial.l2)
            if trial.flatten_dropout:
                architecture["flatten_dropout_rate"] = config.model.dropout
        else:
            architecture = dict(image_size=config.pretrained.image_size, channels=3, dense_units=trial.dense_units,
                                head_dropout_rate=config.model.dropout)
        architecture["augmentation"] = trial.augmentation
    summary = run_trial(
        trial=trial.name,
        backbone=trial.backbone,
        data_dir=DATA_DIR,
        model_path=Path("models") / f"{trial.name}.keras",
        live_dir=Path("metrics/train") / trial.name,
        seed=config.seed,
        weights_dir=WEIGHTS_DIR if trial.backbone == "vgg16" else None,
        init_model_path=Path("models") / f"{trial.init_from}.keras" if trial.init_from else None,
        unfreeze=trial.unfreeze,
        batch_size=config.train.batch_size,
        epochs=trial.epochs,
        learning_rate=trial.learning_rate,
        early_stopping=trial.early_stopping_patience > 0,
        early_stopping_patience=max(trial.early_stopping_patience, 1),
        class_weight=config.train.class_weight,
        reduce_lr=config.train.reduce_lr.enabled,
        reduce_lr_factor=config.train.reduce_lr.factor,
        reduce_lr_patience=config.train.reduce_lr.patience,
        reduce_lr_min_delta=config.train.reduce_lr.min_delta,
        **architecture,
    )
    print(f"train@{trial.name}: {summary}")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__, trial=True))
