"""Wall time of the full default `dvc repro`, per stage and in total, in a fresh copy of this repository.

The copy holds the pipeline and params but no outputs and no DVC cache, so every
stage runs, exactly as on a fresh clone.  It prints the wall time against the
default run's budget, 15 minutes on a 2-core CPU, with the CPU it ran on (CPUs at
"2 cores" differ severalfold, so a figure means little without it).  Usage:

    python bench/repro_time.py                 # the default params.yaml
    python bench/repro_time.py --tiny          # the end-to-end tests' shrunk params
    python bench/repro_time.py -S trials.baseline.epochs=5   # extra overrides, as with `dvc exp run -S`
    python bench/repro_time.py --in-place      # `dvc repro` in this repository (what is stale reruns)
    python bench/repro_time.py --one-epoch     # every trial trained one epoch: the pipeline's fixed cost

``--in-place`` is how main's committed results are made: the rerun and its wall time in one run.
``--one-epoch`` trains every trial of params.yaml for one epoch (no warm-up): what is left is the cost that no
choice of epochs goes below (process start-up, data, each model's first, tracing epoch, the evaluations).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_description  # noqa: E402
from tests.pipeline_utils import env, make_tiny_repo, set_params  # noqa: E402

# The default `dvc repro` from nothing, in wall minutes on a 2-core CPU.
BUDGET_MINUTES = 15


def timed_repro(repo: Path, target: str | None = None, echo: bool = False) -> tuple[dict[str, float], float]:
    """Run `dvc repro [target]` in ``repo``; return wall seconds per stage (in run order) and in total.

    With ``echo``, the stages' progress and summary lines are printed as they come, with the minutes elapsed.
    """
    starts: dict[str, float] = {}
    begin = time.perf_counter()
    command = [sys.executable, "-m", "dvc", "repro", *([target] if target else [])]
    process = subprocess.Popen(command, cwd=repo, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Running stage '"):
            starts[line.split("'")[1]] = time.perf_counter()
        if echo and line.startswith(("Running stage", "train-", "evaluate-", "prepare:", "error")):
            print(f"  [{(time.perf_counter() - begin) / 60:5.1f} min] {line.rstrip()}", flush=True)
    code = process.wait()
    total = time.perf_counter() - begin
    if code != 0:
        sys.exit(f"dvc repro failed with exit status {code} in {repo}")
    names = list(starts)
    ends = [starts[name] for name in names[1:]] + [begin + total]
    return {name: end - starts[name] for name, end in zip(names, ends, strict=True)}, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="use the end-to-end tests' shrunk params")
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    parser.add_argument("--one-epoch", action="store_true",
                        help="train every trial for one epoch: the pipeline's fixed cost (with --tiny or -S too)")
    parser.add_argument("--in-place", action="store_true",
                        help="run `dvc repro` in this repository instead of a fresh copy (no -S, no --tiny)")
    args = parser.parse_args()
    if args.in_place:
        if args.tiny or args.set or args.one_epoch:
            sys.exit("error: --in-place runs this repository's own params; drop --tiny, -S and --one-epoch")
        report(*timed_repro(Path(__file__).resolve().parents[1], echo=True), tiny=False, default=True)
        return

    workdir = Path(tempfile.mkdtemp(prefix="repro-time-"))
    repo = make_tiny_repo(workdir / "repo")
    # make_tiny_repo applies the tiny params; undo them unless asked for, by restoring the real params.yaml.
    if not args.tiny:
        shutil.copy2(Path(__file__).resolve().parents[1] / "params.yaml", repo / "params.yaml")
    overrides = one_epoch_overrides(yaml.safe_load((repo / "params.yaml").read_text())) if args.one_epoch else {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    if overrides:
        set_params(repo / "params.yaml", overrides)

    report(*timed_repro(repo), tiny=args.tiny, default=not (args.tiny or args.one_epoch or args.set))
    if args.keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def one_epoch_overrides(params: dict) -> dict[str, int]:
    """Overrides that train every trial of ``params`` for one epoch, with no learning-rate warm-up epoch."""
    overrides = {}
    for name, trial in params["trials"].items():
        overrides[f"trials.{name}.epochs"] = 1
        if "warmup_epochs" in trial:
            overrides[f"trials.{name}.warmup_epochs"] = 0
    return overrides


def report(seconds: dict[str, float], total: float, tiny: bool, default: bool) -> None:
    """Print the per-stage wall times and the total against the budget (see :func:`print_against_budget`)."""
    print(f"{'stage':28s} {'seconds':>8s}")
    for name, stage_total in seconds.items():
        print(f"{name:28s} {stage_total:8.1f}")
    print(f"{'total (dvc repro)':28s} {total:8.1f}  ({total / 60:.1f} min){' [tiny params]' if tiny else ''}")
    print_against_budget(total, "the default run" if default else "these params (the budget is the default run's)")


def print_against_budget(seconds: float, what: str) -> bool:
    """Print the CPU and ``seconds`` against the 15-minute budget; return whether it is within it."""
    within = seconds <= BUDGET_MINUTES * 60
    print(f"CPU: {cpu_description()}")
    print(f"wall time of {what}: {seconds / 60:.1f} min, budget {BUDGET_MINUTES} min on a 2-core CPU: "
          f"{'within' if within else 'OVER'}")
    return within


if __name__ == "__main__":
    main()
