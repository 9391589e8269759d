"""The numeric precision a trial trains in: ``train.precision`` resolved to a Keras dtype policy.

``float32`` is exact and the default on most laptops.  ``mixed_bfloat16`` and
``mixed_float16`` compute in 16 bits and keep float32 weights; they pay off
only where the hardware does 16-bit arithmetic natively: bfloat16 on CPUs with
AMX or AVX512-BF16 (on AVX2 it is emulated, and slower than float32), float16 on
GPUs.  ``auto`` picks accordingly, so one params.yaml is fast on every machine.
``onednn_enabled`` says whether TensorFlow runs its oneDNN CPU kernels (the
package turns them on for x86 in ``emotion_lib/__init__.py``); trials record it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from emotion_lib.config import PRECISIONS
from emotion_lib.errors import UserError

# /proc/cpuinfo flags of the CPUs that compute in bfloat16 natively (Intel AMX, AVX512-BF16 on Intel and AMD Zen 4+).
NATIVE_BFLOAT16_FLAGS: frozenset[str] = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this machine's first CPU (empty where /proc/cpuinfo does not exist)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def resolve_precision(mode: str, *, gpus: int, flags: Iterable[str]) -> str:
    """The Keras dtype policy ``mode`` means on a machine with ``gpus`` GPUs and these CPU ``flags``."""
    if mode not in PRECISIONS:
        raise UserError(f"train.precision: got {mode!r}; expected one of {', '.join(PRECISIONS)}")
    if mode != "auto":
        return mode
    if gpus > 0:
        return "mixed_float16"
    return "mixed_bfloat16" if NATIVE_BFLOAT16_FLAGS & set(flags) else "float32"


def machine_precision(mode: str) -> str:
    """:func:`resolve_precision` for this machine (imports TensorFlow to count the GPUs)."""
    import tensorflow as tf

    return resolve_precision(mode, gpus=len(tf.config.list_physical_devices("GPU")), flags=cpu_flags())


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (see ``emotion_lib/__init__.py``)."""
    from tensorflow.python.util import _pywrap_util_port  # the flag TensorFlow itself reads; no public API

    return bool(_pywrap_util_port.IsMklEnabled())


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Build and train under Keras' global dtype ``policy``; the previous policy is restored afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
