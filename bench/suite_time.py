"""Wall time of the test suite (the README's `python -m pytest`) and its cost in baseline image-equivalents.

Like ``bench/repro_time.py``: this machine's baseline training speed (``bench/throughput.py``'s baseline,
img/s) is measured before and after the suite, and the suite's wall seconds times their mean compares across
CPUs.  The goal is a suite under 15 minutes on the slowest CPU seen (70 img/s): 63,000 image-equivalents.
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

from bench.repro_time import measured_speed, print_cost  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    before = measured_speed("before")
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "--durations=15", *extra], cwd=REPO_ROOT)
    seconds = time.perf_counter() - start
    print(f"suite: {seconds:.0f} s ({seconds / 60:.1f} min), exit status {code}")
    print_cost(seconds, before)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
