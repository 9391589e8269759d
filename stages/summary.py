"""Stage `summary`: compare every trial's test metrics in one table, JSON and chart."""

from pathlib import Path

from emotion_lib.cli import parser_for, run_stage


def main(args) -> None:
    from emotion_lib.config import load_config
    from emotion_lib.summary import summarize

    trials = list(load_config(args.params).trials)
    summarize(
        metrics_paths={trial: Path("metrics/details") / f"{trial}.json" for trial in trials},
        train_metrics_paths={trial: Path("metrics/train") / trial / "metrics.json" for trial in trials},
        timing_paths={trial: Path("metrics/train") / trial / "timing.json" for trial in trials},
        out_markdown=Path("metrics/summary.md"),
        out_json=Path("metrics/summary.json"),
        out_plot=Path("plots/summary/comparison.png"),
        out_csv=Path("plots/summary/comparison.csv"),
    )
    print("summary: wrote metrics/summary.md, metrics/summary.json and plots/summary/")


if __name__ == "__main__":
    run_stage(main, parser_for(__doc__))
