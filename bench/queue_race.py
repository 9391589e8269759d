"""Does DVC's parallel experiment queue lose runs here?  (treeverse/dvc#10673: with -j > 1 some fail, no logs.)

Builds the tiny pipeline of the end-to-end tests in a fresh copy, queues N experiments that each retrain the
baseline with another learning rate, runs the queue with ``--jobs J`` and counts the outcomes.  Usage::

    python bench/queue_race.py                  # 10 runs, 2 jobs
    python bench/queue_race.py --runs 20 --jobs 2
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_description  # noqa: E402
from tests.pipeline_utils import commit_all, dvc, make_tiny_repo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="queue-race-"))
    repo = make_tiny_repo(workdir / "repo")
    dvc("repro", cwd=repo)
    commit_all(repo, "tiny results")
    rates = ",".join(f"{0.001 + 0.0001 * index:.4f}" for index in range(args.runs))
    dvc("exp", "run", "--queue", "-S", f"trials.baseline.learning_rate={rates}", cwd=repo)
    start = time.perf_counter()
    dvc("queue", "start", "--jobs", str(args.jobs), cwd=repo)
    while re.search(r"\b(Queued|Running)\b", status := dvc("queue", "status", cwd=repo).stdout):
        time.sleep(3)
    seconds = time.perf_counter() - start
    dvc("queue", "stop", cwd=repo, check=False)
    outcomes = {word: status.count(word) for word in ("Success", "Failed")}
    print(status)
    print(f"CPU: {cpu_description()}")
    print(f"{args.runs} queued runs, --jobs {args.jobs}: {outcomes['Success']} succeeded, {outcomes['Failed']} failed "
          f"in {seconds:.0f} s")
    for failed in re.findall(r"^(\w+)\s+\S+\s+.*Failed", status, flags=re.MULTILINE):
        logs = subprocess.run([sys.executable, "-m", "dvc", "queue", "logs", failed], cwd=repo, capture_output=True,
                              text=True)
        print(f"--- logs of {failed} ---\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
