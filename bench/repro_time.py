"""Wall time of the full default `dvc repro`, per stage and in total, in a fresh copy of this repository.

The copy holds the pipeline and params but no outputs and no DVC cache, so every
stage runs, exactly as on a fresh clone. Usage:

    python bench/repro_time.py                 # the default params.yaml
    python bench/repro_time.py --tiny          # the end-to-end tests' shrunk params
    python bench/repro_time.py -S trials.baseline.epochs=5   # extra overrides, as with `dvc exp run -S`
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

from tests.pipeline_utils import env, make_tiny_repo, set_params  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="use the end-to-end tests' shrunk params")
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    args = parser.parse_args()

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

    starts: dict[str, float] = {}
    order: list[str] = []
    begin = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=repo, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Running stage '"):
            name = line.split("'")[1]
            starts[name] = time.perf_counter()
            order.append(name)
    code = process.wait()
    total = time.perf_counter() - begin
    if code != 0:
        sys.exit(f"dvc repro failed with exit status {code} in {repo}")

    ends = [starts[name] for name in order[1:]] + [begin + total]
    print(f"{'stage':28s} {'seconds':>8s}")
    for name, end in zip(order, ends, strict=True):
        print(f"{name:28s} {end - starts[name]:8.1f}")
    print(f"{'total (dvc repro)':28s} {total:8.1f}  ({total / 60:.1f} min){' [tiny params]' if args.tiny else ''}")
    if args.keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
