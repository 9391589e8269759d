"""Stage `train-<trial>`: build the trial's model from params.yaml and train it on data/prepared."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage

DATA_DIR = Path("data/prepared")
MODELS_DIR = Path("models")
WEIGHTS_DIR = MODELS_DIR / "pretrained"


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.trials import run_trial

    # trial_run reads exactly the keys this trial's dvc.yaml stage declares (see config.stage_param_keys).
    run = load_config(args.params).trial_run(args.trial)
    run_trial(
        run,
        data_dir=DATA_DIR,
        model_path=MODELS_DIR / f"{run.name}.keras",
        live_dir=Path("metrics/train") / run.name,
        models_dir=MODELS_DIR,
        weights_dir=WEIGHTS_DIR if run.backbone == "vgg16" else None,
    )


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__, trial=True))
