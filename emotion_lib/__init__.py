"""Library behind the facial-emotion-recognition DVC pipeline.

Every stage in ``stages/`` is a thin command-line wrapper around one function
of this package; all logic, validation and I/O conventions live here.

Importing the package also chooses TensorFlow's CPU kernels, which must happen before TensorFlow is imported.
"""

import os
import platform

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

# TensorFlow enables its oneDNN kernels by default only on x86 CPUs with AVX-512 VNNI / BF16 or AMX; on the AVX2
# laptops this project is sized for it falls back to Eigen's, which trained vgg_bn's model 1.45 times slower
# here (docs/benchmarks.md, "Levers measured"). An explicit TF_ENABLE_ONEDNN_OPTS=0 still wins; the results are
# deterministic either way, but the two kernel libraries round differently, so metrics compare only between runs
# with the same setting (recorded as `onednn` in metrics/train/<trial>/metrics.json).
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
