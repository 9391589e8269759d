"""Stage `evaluate-<trial>`: score the trained model on the held-out test split; write metrics, report and plots."""

from pathlib import Path

from emotion_lib.atomic import read_json
from emotion_lib.cli import parser_for, run_stage

DATA_DIR = Path("data/prepared")
# Training facts carried into the evaluation metrics and the summary table.
TRAINING_KEYS = ("backbone", "backbone_source", "epochs_run", "train_seconds", "trainable_params", "total_params",
                 "precision", "train_split")


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.evaluation import evaluate_model

    trial = args.trial
    # Reads only evaluate.<trial>, when the trial has an entry there (see config.stage_param_keys).
    views = load_config(args.params).views(trial)
    test_time_flip, test_time_shift = views.test_time_flip, views.test_time_shift
    logged = read_json(Path("metrics/train") / trial / "metrics.json", "training summary",
                       f"run `dvc repro train-{trial}` first")
    metrics = evaluate_model(
        model_path=Path("models") / f"{trial}.keras",
        data_dir=DATA_DIR,
        trial=trial,
        metrics_path=Path("metrics") / f"{trial}.json",
        details_path=Path("metrics/details") / f"{trial}.json",
        plots_dir=Path("plots") / trial,
        test_time_flip=test_time_flip,
        test_time_shift=test_time_shift,
        extra={key: logged[key] for key in TRAINING_KEYS if key in logged},
    )
    views = [name for name, on in (("flip", test_time_flip), (f"{test_time_shift} px shifts", test_time_shift)) if on]
    views_note = f" (test-time {' and '.join(views)})" if views else ""
    print(f"evaluate-{trial}: test accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_avg']['f1']:.4f} "
          f"on {metrics['test_size']} images{views_note} -> metrics/{trial}.json, metrics/details/{trial}.json, "
          f"plots/{trial}/")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__, trial=True))
