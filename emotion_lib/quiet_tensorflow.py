"""Import TensorFlow without its start-up log lines: importing this module imports TensorFlow.

TensorFlow 2.21 writes, while it is imported and before its C++ logging is set up, absl's "WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR", oneDNN's "custom operations are on" and
the CPU feature guard's "rebuild TensorFlow with the appropriate compiler flags", twice, whatever
``TF_CPP_MIN_LOG_LEVEL`` says. None asks anything of the user (the oneDNN choice is this package's, recorded as
``onednn`` in each training's metrics), and a "WARNING" in every stage's output teaches readers to skip warnings.
So the modules that use TensorFlow or Keras import this module first: it captures file descriptor 2 while
TensorFlow loads and writes back every other line, so a real import problem still shows.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# The start-up lines, and nothing else: absl's notice, then "I<date> <time> <thread> port.cc:...]" (oneDNN) and
# "cpu_feature_guard.cc:...]" with its continuation line.
STARTUP_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|I\d{4} [\d:.]+ +\d+ (port|cpu_feature_guard)\.cc:\d+\] "
    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
)


def filtered(text: str) -> str:
    """``text`` without its TensorFlow start-up lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_NOISE.match(line.rstrip("\n")))


def _import_tensorflow() -> None:
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401 - the import is the point
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(filtered(captured.read().decode(errors="replace")))
            sys.stderr.flush()


_import_tensorflow()
