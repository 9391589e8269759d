"""Quiet runs: TensorFlow's start-up lines and its retracing notice stay out of a stage's output, nothing else does."""

from __future__ import annotations

import logging
import subprocess
import sys

from tests.pipeline_utils import REPO_ROOT

# What TensorFlow 2.21 printed on import, on this project's machines (x86 with oneDNN and AVX-512).
STARTUP = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796429635.166824    8344 port.cc:153] oneDNN custom operations are on. You may see slightly different \
numerical results due to floating-point round-off errors from different computation orders. To turn them off, set \
the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796429635.643077    8344 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available \
CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild \
TensorFlow with the appropriate compiler flags.
"""


def test_the_startup_lines_are_filtered_and_every_other_line_kept():
    from emotion_lib.quiet_tensorflow import filtered

    other = ("E0000 00:00:1796429635.1 8344 cuda_dnn.cc:8] could not load a library\n"
             "WARNING: something a user must read\n")
    assert filtered(STARTUP + other + STARTUP) == other


def test_importing_the_library_prints_nothing():
    """The modules that load TensorFlow print none of its start-up lines (they printed 7 before this filter)."""
    result = subprocess.run([sys.executable, "-c", "import emotion_lib.training, emotion_lib.models"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stderr == "" and result.stdout == ""


def test_the_retracing_notice_alone_is_dropped():
    import tensorflow as tf

    import emotion_lib.training  # noqa: F401 - installs the filter

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    try:
        tf.get_logger().warning("5 out of the last 6 calls to <function f at 0x1> triggered tf.function retracing. "
                                "Tracing is expensive.")
        tf.get_logger().warning("a warning a user must read")
    finally:
        tf.get_logger().removeHandler(handler)
    assert seen == ["a warning a user must read"]
