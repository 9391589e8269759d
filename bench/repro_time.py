"""Wall time of the full default `dvc repro`, per stage and in total, in a fresh copy of this repository.

The copy holds the pipeline and params but no outputs and no DVC cache, so every
stage runs, exactly as on a fresh clone.  In the same run it measures this
machine's baseline training speed (``bench/throughput.py``'s baseline, img/s)
before and after the repro and prints the run's cost in baseline image-equivalents
(wall seconds x the mean speed), which compares across CPUs: the budget is 63,000 (15 minutes on the
slowest CPU seen, 70 img/s).  Usage:

    python bench/repro_time.py                 # the default params.yaml
    python bench/repro_time.py --tiny          # the end-to-end tests' shrunk params
    python bench/repro_time.py -S trials.baseline.epochs=5   # extra overrides, as with `dvc exp run -S`
    python bench/repro_time.py --in-place      # `dvc repro` in this repository (what is stale reruns)
    python bench/repro_time.py --one-epoch     # every trial trained one epoch: the pipeline's fixed cost

``--in-place`` is how main's committed results are made: the rerun and its cost in one run.
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
from bench.throughput import baseline_images_per_second  # noqa: E402
from tests.pipeline_utils import env, make_tiny_repo, set_params  # noqa: E402

# 15 minutes on the slowest CPU seen, which trains the baseline at SLOWEST_SPEED img/s.
SLOWEST_SPEED = 70
BUDGET_IMAGE_EQUIVALENTS = 15 * 60 * SLOWEST_SPEED


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
        before = measured_speed("before")
        report(*timed_repro(Path(__file__).resolve().parents[1], echo=True), tiny=False, speed_before=before)
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

    before = measured_speed("before")
    report(*timed_repro(repo), tiny=args.tiny, speed_before=before)
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


def measured_speed(when: str) -> float:
    """This machine's baseline training speed now (img/s), printed as it is measured."""
    speed = baseline_images_per_second()
    print(f"baseline training speed (bench/throughput.py baseline), {when} the run: {speed:.0f} img/s", flush=True)
    return speed


def report(seconds: dict[str, float], total: float, tiny: bool, speed_before: float) -> None:
    """Print the per-stage wall times and the run's cost against the budget (see :func:`print_cost`)."""
    print(f"{'stage':28s} {'seconds':>8s}")
    for name, stage_total in seconds.items():
        print(f"{name:28s} {stage_total:8.1f}")
    print(f"{'total (dvc repro)':28s} {total:8.1f}  ({total / 60:.1f} min){' [tiny params]' if tiny else ''}")
    print_cost(total, speed_before)


def print_cost(seconds: float, speed_before: float) -> float:
    """Measure the baseline speed again, then print ``seconds``' cost in baseline image-equivalents; return it.

    The cost uses the mean of the speeds measured before and after the timed work: some machines' speed swings
    twofold within minutes (a shared host), and one measurement then misstates the cost.
    """
    speed_after = measured_speed("after")
    speed = (speed_before + speed_after) / 2
    cost = seconds * speed
    print(f"CPU: {cpu_description()}")
    print(f"cost: {seconds:.0f} s x {speed:.0f} img/s (mean of {speed_before:.0f} and {speed_after:.0f}) = "
          f"{cost:,.0f} baseline image-equivalents, {cost / SLOWEST_SPEED / 60:.1f} min at {SLOWEST_SPEED} img/s "
          f"(budget {BUDGET_IMAGE_EQUIVALENTS:,}: {'within' if cost <= BUDGET_IMAGE_EQUIVALENTS else 'OVER'})")
    if max(speed_before, speed_after) > 1.25 * min(speed_before, speed_after):
        print("warning: the machine's speed changed by more than 25 % during the run; measure again to settle it")
    return cost


if __name__ == "__main__":
    main()
