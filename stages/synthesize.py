"""Stage `synthesize`: write the embedded FER-like dataset to data/raw/synthetic (Kaggle folder layout)."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage

OUT_DIR = Path("data/raw/synthetic")


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.synthetic import synthesize_dataset

    config = load_config(args.params)
    summary = synthesize_dataset(out_dir=OUT_DIR, scale=config.synthetic.scale, seed=config.seed)
    print(f"synthesize: wrote {summary['n_images']} images to {OUT_DIR}")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__))
