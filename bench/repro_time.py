"""Wall time of the full default `dvc repro`, per stage and in total, in a fresh copy of this repository.

The copy holds the pipeline and params but no outputs and no DVC cache, so every
stage runs, exactly as on a fresh clone.  In the same run it measures this
machine's baseline training speed (``bench/throughput.py``'s baseline, img/s)
and prints the run's cost in baseline image-equivalents (wall seconds x that
speed), which compares across CPUs: the budget is 63,000 (15 minutes on the
slowest CPU seen, 70 img/s).  Usage:

    python bench/repro_time.py                 # the default params.yaml
    python bench/repro_time.py --tiny          # the end-to-end tests' shrunk params
    python bench/repro_time.py -S trials.baseline.epochs=5   # extra overrides, as with `dvc exp run -S`
    python bench/repro_time.py --in-place      # `dvc repro` in this repository (what is stale reruns)

``--in-place`` is how main's committed results are made: the rerun and its cost in one run.
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

BUDGET_IMAGE_EQUIVALENTS = 63_000


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
        if echo and line.startswith(("Running stage", "train@", "evaluate@", "prepare:", "error")):
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
    parser.add_argument("--in-place", action="store_true",
                        help="run `dvc repro` in this repository instead of a fresh copy (no -S, no --tiny)")
    args = parser.parse_args()
    if args.in_place:
        if args.tiny or args.set:
            sys.exit("error: --in-place runs this repository's own params; drop --tiny and -S")
        report(*timed_repro(Path(__file__).resolve().parents[1], echo=True), tiny=False)
        return

    workdir = Path(tempfile.mkdtemp(prefix="repro-time-"))
    repo = make_tiny_repo(workdir / "repo")
    # make_tiny_repo applies the tiny params; undo them unless asked for, by restoring the real params.yaml.
    if not args.tiny:
        shutil.copy2(Path(__file__).resolve().parents[1] / "params.yaml", repo / "params.yaml")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    if overrides:
        set_params(repo / "params.yaml", overrides)

    report(*timed_repro(repo), tiny=args.tiny)
    if args.keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def report(seconds: dict[str, float], total: float, tiny: bool) -> None:
    """Print the per-stage wall times, then measure the baseline speed now and print the cost against the budget."""
    print(f"{'stage':28s} {'seconds':>8s}")
    for name, stage_total in seconds.items():
        print(f"{name:28s} {stage_total:8.1f}")
    print(f"{'total (dvc repro)':28s} {total:8.1f}  ({total / 60:.1f} min){' [tiny params]' if tiny else ''}")
    speed = baseline_images_per_second()
    cost = total * speed
    print(f"CPU: {cpu_description()}")
    print(f"baseline training speed (bench/throughput.py baseline, measured now): {speed:.0f} img/s")
    print(f"cost: {total:.0f} s x {speed:.0f} img/s = {cost:,.0f} baseline image-equivalents "
          f"(budget {BUDGET_IMAGE_EQUIVALENTS:,}: {'within' if cost <= BUDGET_IMAGE_EQUIVALENTS else 'OVER'})")


if __name__ == "__main__":
    main()
