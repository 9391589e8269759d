"""Stage `prepare`: clean, deduplicate, split and undersample the raw images into packed arrays."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage

OUT_DIR = Path("data/prepared")
METRICS_PATH = Path("metrics/prepare.json")
PLOTS_DIR = Path("plots/prepare")


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.prepare import prepare_dataset

    config = load_config(args.params)
    report = prepare_dataset(config.data, seed=config.seed, out_dir=OUT_DIR, metrics_path=METRICS_PATH,
                             plots_dir=PLOTS_DIR)
    splits = report["counts"]["splits"]
    dropped = report["dropped"]
    duplicates = dropped["duplicate_of_test"] + dropped["duplicate_in_train"]
    print(f"prepare: {report['images']['found']} files found, {dropped['total']} dropped ({duplicates} duplicates, "
          f"{dropped['undersampled']} undersampled); train {splits['train']['total']}, "
          f"val {splits['val']['total']}, test {splits['test']['total']} -> {OUT_DIR} (details: {METRICS_PATH})")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__))
