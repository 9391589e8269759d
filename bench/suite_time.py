"""Wall time of the test suite (the README's `python -m pytest`), with the CPU it ran on.

Like ``bench/repro_time.py``, it prints the wall time against 15 minutes on a 2-core CPU, the suite's goal.
Usage::

    python bench/suite_time.py                 # the whole suite, as CI runs it
    python bench/suite_time.py -- -m "not slow"   # extra pytest arguments after --
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.repro_time import print_against_budget  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "--durations=15", *extra], cwd=REPO_ROOT)
    seconds = time.perf_counter() - start
    print(f"suite: {seconds:.0f} s ({seconds / 60:.1f} min), exit status {code}")
    print_against_budget(seconds, "the test suite")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
