"""Progress a person can follow during long work: what is done, elapsed time, and an estimate of what is left.

:class:`Progress` prints one line per step of visible progress (at most every
``min_interval`` seconds and at 100 %), so a `dvc repro` log stays readable;
:class:`EpochProgress` and :class:`PredictProgress` adapt it to Keras' ``fit``
and ``predict``.  Lines go to stderr by default, where DVC shows them live.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from emotion_lib import quiet_tensorflow  # noqa: F401 - first: TensorFlow's start-up lines stay out of stderr

# isort: split
import keras


def format_duration(seconds: float) -> str:
    """``75.3`` -> ``"1m15s"``; ``3725`` -> ``"1h02m"``; ``8.2`` -> ``"8s"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts ``done`` out of ``total`` units of work and prints ``label: done/total, elapsed, ~left``."""

    def __init__(self, label: str, total: int, *, unit: str = "", min_interval: float = 10.0,
                 stream: TextIO | None = None):
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self.min_interval = min_interval
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self._last_print = -float("inf")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self, done: int) -> float | None:
        """Seconds left at the average pace so far, or None before anything is done."""
        return self.elapsed() / done * (self.total - done) if done > 0 else None

    def update(self, done: int, detail: str = "") -> None:
        """Report ``done`` units; prints when ``min_interval`` has passed since the last line, and at the end."""
        now = time.perf_counter()
        if done < self.total and now - self._last_print < self.min_interval:
            return
        self._last_print = now
        left = self.remaining(done)
        eta = "" if left is None or done >= self.total else f", ~{format_duration(left)} left"
        unit = f" {self.unit}" if self.unit else ""
        detail = f" {detail}" if detail else ""
        print(f"{self.label}: {done}/{self.total}{unit}{detail} ({format_duration(self.elapsed())} elapsed{eta})",
              file=self.stream, flush=True)


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch: losses, accuracies, the best validation accuracy so far, elapsed and time left.

    Within an epoch longer than ``batch_interval`` seconds (FER-2013's full split at 48 px takes minutes), a
    line every ``batch_interval`` seconds says how far the epoch is, with the whole run's time left.
    """

    def __init__(self, label: str, epochs: int, stream: TextIO | None = None, batch_interval: float = 60.0):
        super().__init__()
        self._progress = Progress(label, epochs, unit="epochs", min_interval=0.0, stream=stream)
        self._best_val_accuracy = None
        self._batch_interval = batch_interval
        self._epoch = 0
        self._last_line = 0.0

    def on_train_begin(self, logs=None):
        self._progress.start = self._last_line = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps = (self.params or {}).get("steps")
        now = time.perf_counter()
        if not steps or now - self._last_line < self._batch_interval:
            return
        self._last_line = now
        done = self._epoch + (batch + 1) / steps
        left = self._progress.elapsed() / done * (self._progress.total - done)
        best = "" if self._best_val_accuracy is None else f", best val_acc {self._best_val_accuracy:.3f}"
        print(f"{self._progress.label}: epoch {self._epoch + 1}/{self._progress.total}, batch {batch + 1}/{steps}"
              f"{best} ({format_duration(self._progress.elapsed())} elapsed, ~{format_duration(left)} left)",
              file=self._progress.stream, flush=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        val_accuracy = logs.get("val_accuracy")
        if val_accuracy is not None:
            self._best_val_accuracy = max(val_accuracy, self._best_val_accuracy or 0.0)
        parts = [f"loss {logs['loss']:.4f}"] if "loss" in logs else []
        parts += [f"acc {logs['accuracy']:.3f}"] if "accuracy" in logs else []
        parts += [f"val_loss {logs['val_loss']:.4f}"] if "val_loss" in logs else []
        if val_accuracy is not None:
            parts.append(f"val_acc {val_accuracy:.3f} (best {self._best_val_accuracy:.3f})")
        self._progress.update(epoch + 1, "- " + ", ".join(parts))
        self._last_line = time.perf_counter()


class PredictProgress(keras.callbacks.Callback):
    """Progress of a long ``model.predict`` over ``total_batches`` batches (a line at most every 10 s)."""

    def __init__(self, label: str, total_batches: int, stream: TextIO | None = None):
        super().__init__()
        self._progress = Progress(label, total_batches, unit="batches", stream=stream)

    def on_predict_batch_end(self, batch, logs=None):
        self._progress.update(batch + 1)
