"""Tests of the progress lines of long work (training epochs and batches, predictions)."""

from __future__ import annotations

import io
import re

import keras
import numpy as np

from emotion_lib.progress import EpochProgress, Progress, format_duration


def test_format_duration():
    assert [format_duration(s) for s in (8.2, 75.3, 3725)] == ["8s", "1m15s", "1h02m"]


def test_progress_prints_done_elapsed_and_time_left():
    stream = io.StringIO()
    progress = Progress("job", 4, unit="files", min_interval=0.0, stream=stream)
    progress.update(1)
    progress.update(4)
    first, last = stream.getvalue().splitlines()
    assert re.fullmatch(r"job: 1/4 files \(\d+s elapsed, ~\d+s left\)", first)
    assert re.fullmatch(r"job: 4/4 files \(\d+s elapsed\)", last)


def test_training_shows_batches_within_an_epoch_and_the_best_val_accuracy():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).normal(size=(40, 4)), np.arange(40) % 3
    stream = io.StringIO()
    progress = EpochProgress("train-t", 2, stream=stream, batch_interval=0.0)
    model.fit(x, y, batch_size=10, epochs=2, validation_data=(x, y), callbacks=[progress], verbose=0)
    lines = stream.getvalue().splitlines()
    batch_lines = [line for line in lines if ", batch " in line]
    epoch_lines = [line for line in lines if " epochs - " in line]
    assert len(batch_lines) == 8 and len(epoch_lines) == 2
    assert batch_lines[0].startswith("train-t: epoch 1/2, batch 1/4 (")
    # From the second epoch on, batch lines carry the best validation accuracy of the epochs so far.
    assert re.search(r"epoch 2/2, batch 1/4, best val_acc \d\.\d{3} \(\d+s elapsed, ~\d+s left\)", batch_lines[4])
    assert re.match(r"train-t: 1/2 epochs - loss \d\.\d{4}, acc \d\.\d{3}, val_loss \d\.\d{4}, "
                    r"val_acc \d\.\d{3} \(best \d\.\d{3}\) \(\d+s elapsed, ~\d+s left\)", epoch_lines[0])
