"""Tests of training (pipeline, outputs, determinism, cached features) and of VGG16 weight resolution.

Data is tiny (7 classes x 6 train / 3 val random 48x48 images), models are small
(32-48 px, ``padding="same"``) and runs last 1-2 epochs, so the whole file stays
fast on two CPU cores.  The ImageNet download is patched to fail for every
test, so nothing here can touch the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from emotion_lib import EMOTIONS, pretrained
from emotion_lib.architecture import Augmentation, ScratchSpec, VGG16Spec
from emotion_lib.config import ReduceLRConfig, TrialRun
from emotion_lib.errors import UserError
from emotion_lib.inputs import load_split, make_dataset
from emotion_lib.models import build_model, build_vgg16_base, load_model, unfreeze_blocks
from emotion_lib.pretrained import IMAGENET_NOTOP_FILENAME, IMAGENET_NOTOP_URL, resolve_vgg16_weights
from emotion_lib.training import (
    compute_class_weights,
    split_frozen_prefix,
    train_trial,
)

REPO_ROOT = Path(__file__).resolve().parents[1]



def tiny_run(name: str = "trial", *, reduce_lr: bool = True, **overrides) -> TrialRun:
    """A shrunk TrialRun: 2 epochs of batch 8, early stopping (patience 1) and ReduceLROnPlateau on."""
    fields = dict(name=name, backbone="scratch", seed=0, epochs=2, learning_rate=1e-3, early_stopping_patience=1,
                  batch_size=8, class_weight="none", model=None,
                  reduce_lr=ReduceLRConfig(enabled=reduce_lr, factor=0.2, patience=1, min_delta=1e-4))
    return TrialRun(**{**fields, **overrides})


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Point KERAS_HOME at an empty directory and make the ImageNet download fail like an offline machine."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))

    def offline():
        raise urllib.error.URLError("[Errno -2] Name or service not known (patched in tests)")

    monkeypatch.setattr(pretrained, "_download_imagenet_notop", offline)


def write_tiny_data(data_dir: Path, *, train_per_class: int = 6, val_per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    data_dir.mkdir(parents=True, exist_ok=True)
    for split, per_class in (("train", train_per_class), ("val", val_per_class), ("test", val_per_class)):
        labels = np.repeat(np.arange(len(EMOTIONS)), per_class).astype(np.int64)
        images = rng.integers(0, 256, size=(labels.size, 48, 48), dtype=np.uint8)
        np.savez(data_dir / f"{split}.npz", images=images, labels=labels)
    (data_dir / "meta.json").write_text(json.dumps({"emotions": list(EMOTIONS)}))
    return data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def small_scratch_model(seed: int = 0) -> keras.Model:
    spec = ScratchSpec(image_size=32, channels=1, padding="same", augmentation=Augmentation(enabled=True),
                       block_dropout=0.2, flatten_dropout=0.2, dense_units=16, l2=0.01)
    return build_model(spec, num_classes=len(EMOTIONS), seed=seed)


def small_vgg16_model(*, augmentation: bool = False) -> keras.Model:
    spec = VGG16Spec(image_size=32, dense_units=16, head_dropout=0.5, augmentation=Augmentation(enabled=augmentation))
    return build_model(spec, num_classes=len(EMOTIONS))


def without_object_ids(config):
    """A Keras config with ``shared_object_id`` (a memory address, different in every process) removed."""
    if isinstance(config, dict):
        return {key: without_object_ids(value) for key, value in config.items() if key != "shared_object_id"}
    if isinstance(config, list):
        return [without_object_ids(value) for value in config]
    return config


def test_balanced_class_weights():
    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = compute_class_weights(labels, 4, "balanced")
    assert weights == pytest.approx({0: 6 / 9, 1: 2.0, 2: 1.0, 3: 1.0})
    assert compute_class_weights(labels, 4, "none") is None
    with pytest.raises(UserError, match="train.class_weight"):
        compute_class_weights(labels, 4, "inverse")


def test_sqrt_class_weights_take_the_root_of_balanced_and_keep_the_average_weight_at_one():
    labels = np.array([0] * 90 + [1] * 10)
    weights = compute_class_weights(labels, 3, "sqrt")
    # balanced: 100 / (2 * 90) and 100 / (2 * 10); the roots keep their ratio's square root ...
    assert weights[1] / weights[0] == pytest.approx(3.0)
    # ... and average 1 over the 100 images, so the loss keeps its scale.
    assert (90 * weights[0] + 10 * weights[1]) / 100 == pytest.approx(1.0)
    assert weights[2] == 1.0


# ----------------------------------------------------------------------------------------------- train_trial


def test_train_trial_writes_model_and_dvclive_files(data_dir, tmp_path):
    model_path, live_dir = tmp_path / "models" / "l2.keras", tmp_path / "dvclive" / "l2"
    metrics = train_trial(
        small_scratch_model(),
        tiny_run("l2", class_weight="balanced", reduce_lr=False),
        data_dir=data_dir,
        model_path=model_path,
        live_dir=live_dir,
        extra_metrics={"backbone_source": "none"},
    )
    assert json.loads((live_dir / "metrics.json").read_text()) == metrics
    assert metrics["trial"] == "l2" and metrics["backbone_source"] == "none"
    assert metrics["epochs_run"] in (1, 2) and metrics["last_epoch"]["epoch"] == metrics["epochs_run"]
    assert set(metrics["eval"]) == {"loss", "accuracy"} and {"loss", "accuracy"} <= set(metrics["train"])
    assert metrics["trainable_params"] == metrics["total_params"] == small_scratch_model().count_params()
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] and metrics["saved_epoch"] == metrics["best_epoch"]
    curves = read_curves(live_dir)
    for name in ("train/loss", "train/accuracy", "train/learning_rate", "eval/loss", "eval/accuracy"):
        rows = (live_dir / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()
        assert rows[0] == f"step\t{name.split('/')[1]}" and len(rows) == 1 + metrics["epochs_run"]
    # The top-level figures are the saved epoch's, read back from the per-epoch curves.
    saved = metrics["saved_epoch"] - 1
    assert metrics["step"] == saved
    assert metrics["eval"]["loss"] == pytest.approx(curves["eval/loss"][saved])
    assert metrics["train"]["accuracy"] == pytest.approx(curves["train/accuracy"][saved])
    assert metrics["last_epoch"]["eval"]["loss"] == pytest.approx(curves["eval/loss"][-1])
    # Logged even without ReduceLROnPlateau, so every trial has the same curves.
    assert curves["train/learning_rate"] == pytest.approx([1e-3] * metrics["epochs_run"])
    timing = json.loads((live_dir / "timing.json").read_text())
    assert timing["train_seconds"] > 0 and len(timing["epoch_seconds"]) == metrics["epochs_run"]
    # DVCLive must not write dvc.yaml (the pipeline owns it) nor leave temporary directories behind.
    assert not list(tmp_path.rglob("dvc.yaml"))
    assert sorted(path.name for path in live_dir.parent.iterdir()) == ["l2"]
    assert sorted(path.name for path in model_path.parent.iterdir()) == ["l2.keras"]
    loaded = load_model(model_path)
    assert loaded.predict(np.zeros((2, 32, 32, 1), "float32"), verbose=0).shape == (2, 7)


def write_misleading_data(data_dir: Path) -> Path:
    """Train and val hold the same easy images (brightness says the class) with val labels shifted by one.

    Fitting the train labels makes the val loss rise from the first epoch on, so early stopping and
    ReduceLROnPlateau both fire, deterministically.
    """
    rng = np.random.default_rng(3)
    data_dir.mkdir(parents=True, exist_ok=True)
    labels = np.repeat(np.arange(len(EMOTIONS)), 8).astype(np.int64)
    images = (labels[:, None, None] * 30 + rng.integers(0, 20, size=(labels.size, 48, 48))).astype(np.uint8)
    np.savez(data_dir / "train.npz", images=images, labels=labels)
    np.savez(data_dir / "val.npz", images=images, labels=(labels + 1) % len(EMOTIONS))
    (data_dir / "meta.json").write_text(json.dumps({"emotions": list(EMOTIONS)}))
    return data_dir


def fast_model() -> keras.Model:
    return build_model(ScratchSpec(image_size=16, channels=1, padding="same"), num_classes=len(EMOTIONS))


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_early_stopping_fires_and_the_saved_model_is_the_restored_epoch(tmp_path, monitor):
    data_dir = write_misleading_data(tmp_path / "data")
    run = tiny_run("stopper", epochs=8, early_stopping_patience=2, learning_rate=3e-3, reduce_lr=False,
                   early_stopping_monitor=monitor)
    metrics = train_trial(fast_model(), run, data_dir=data_dir, model_path=tmp_path / "m.keras",
                          live_dir=tmp_path / "live")
    curves = read_curves(tmp_path / "live")
    assert metrics["stopped_early"] and metrics["epochs_run"] < 8 and metrics["best_epoch_by"] == monitor
    # The first epoch with the best value of the monitored curve, as Keras' EarlyStopping counts it.
    best = int(np.argmin(curves["eval/loss"]) if monitor == "val_loss" else np.argmax(curves["eval/accuracy"]))
    assert metrics["saved_epoch"] == metrics["best_epoch"] == best + 1 < metrics["epochs_run"]
    # The top-level step is the saved epoch's (0-based), like the figures beside it; the last epoch keeps its own.
    assert metrics["step"] == best and metrics["last_epoch"]["step"] == metrics["epochs_run"] - 1
    assert metrics["eval"]["loss"] == pytest.approx(curves["eval/loss"][best])
    assert metrics["last_epoch"]["eval"]["loss"] > metrics["eval"]["loss"]
    # The saved weights are the restored epoch's: re-scoring the saved model on val gives that epoch's val loss.
    images, labels = load_split(data_dir, "val")
    saved = load_model(tmp_path / "m.keras")
    rescored = saved.evaluate(make_dataset(images, labels, image_size=16, channels=1, batch_size=8), verbose=0)
    assert rescored[0] == pytest.approx(curves["eval/loss"][best], rel=1e-4)
    assert rescored[0] != pytest.approx(curves["eval/loss"][-1], rel=1e-3)


def test_reduce_lr_on_plateau_lowers_the_logged_rate(tmp_path):
    data_dir = write_misleading_data(tmp_path / "data")
    run = tiny_run("plateau", epochs=4, early_stopping_patience=0, learning_rate=3e-3)
    train_trial(fast_model(), run, data_dir=data_dir, model_path=tmp_path / "m.keras", live_dir=tmp_path / "live")
    rates = read_curves(tmp_path / "live")["train/learning_rate"]
    assert rates[0] == pytest.approx(3e-3)
    assert rates[-1] == pytest.approx(3e-3 * 0.2 ** 2)  # two plateaus of patience 1 after the first epoch
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False))


def test_failed_training_leaves_no_outputs(data_dir, tmp_path, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    model_path, live_dir = tmp_path / "out" / "m.keras", tmp_path / "out" / "live"
    with pytest.raises(RuntimeError, match="simulated"):
        train_trial(small_scratch_model(), tiny_run(epochs=1), data_dir=data_dir, model_path=model_path,
                    live_dir=live_dir)
    assert list((tmp_path / "out").iterdir()) == []


def test_train_trial_checks_meta_against_model(tmp_path):
    data = write_tiny_data(tmp_path / "data")
    model = build_model(ScratchSpec(image_size=16, channels=1, padding="same"), num_classes=5)
    with pytest.raises(UserError, match=r"meta.json lists 7 emotions \(angry, .*5 outputs.*rerun `dvc repro`"):
        train_trial(model, tiny_run(), data_dir=data, model_path=tmp_path / "m.keras", live_dir=tmp_path / "live")


_DETERMINISM_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_training import small_scratch_model, tiny_run
from emotion_lib.training import train_trial
out = Path(sys.argv[3])
train_trial(small_scratch_model(seed=5), tiny_run("determinism", seed=5), data_dir=Path(sys.argv[2]),
            model_path=out / "model.keras", live_dir=out / "live")
"""


def test_training_is_deterministic_across_fresh_processes(data_dir, tmp_path):
    """Byte-identical metrics, curves and model file from two fresh processes on this machine (floats may differ
    across CPUs); the model file holds no save time or memory address (emotion_lib.models.save_model)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs = []
    for run in ("first", "second"):
        out = tmp_path / run
        subprocess.run(
            [sys.executable, "-c", _DETERMINISM_SCRIPT, str(REPO_ROOT), str(data_dir), str(out)],
            check=True,
            env=env,
            capture_output=True,
            cwd=tmp_path,
        )
        curves = sorted((out / "live" / "plots").rglob("*.tsv"))
        runs.append(((out / "live" / "metrics.json").read_bytes(), [path.read_bytes() for path in curves],
                     (out / "model.keras").read_bytes()))
    assert runs[0] == runs[1]
    assert json.loads(runs[0][0])["trial"] == "determinism"


def read_curves(live_dir: Path) -> dict[str, list[float]]:
    """DVCLive's per-epoch curves as {"train/loss": [...], "eval/accuracy": [...], ...}."""
    curves = {}
    for path in sorted((live_dir / "plots" / "metrics").rglob("*.tsv")):
        rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
        curves[f"{path.parent.name}/{path.stem}"] = [float(row[-1]) for row in rows]
    return curves


@pytest.mark.parametrize(
    ("augmentation", "fine_tune", "layer", "scope", "label_smoothing"),
    [(False, False, "flatten", "train+val", 0.0), (True, False, "flatten", "val", 0.0),
     (True, False, "flatten", "val", 0.2), (True, True, "block4_pool", "val", 0.0)],
    # validation_cached_smoothed: the cached validation loss must be label-smoothed like fit's own.
    ids=["features_cached", "validation_cached", "validation_cached_smoothed", "fine_tuning"],
)
def test_frozen_prefix_cache_matches_training_the_whole_model(data_dir, tmp_path, augmentation, fine_tune, layer,
                                                              scope, label_smoothing):
    runs = {}
    for cache in (False, True):
        model = small_vgg16_model(augmentation=augmentation)
        if fine_tune:
            unfreeze_blocks(model, ["block5"])
        live_dir = tmp_path / f"live_{cache}"
        metrics = train_trial(
            model,
            tiny_run("vgg16", backbone="vgg16", epochs=3, early_stopping_patience=2, label_smoothing=label_smoothing),
            data_dir=data_dir,
            model_path=tmp_path / f"cache_{cache}.keras",
            live_dir=live_dir,
            cache_prefix=cache,
        )
        runs[cache] = (metrics, read_curves(live_dir), json.loads((live_dir / "timing.json").read_text()))
    (plain, plain_curves, plain_timing), (cached, cached_curves, cached_timing) = runs[False], runs[True]
    assert plain_timing["frozen_prefix_cache_layer"] is None and plain["frozen_prefix_cache"] == "none"
    assert cached_timing["frozen_prefix_cache_layer"] == layer and cached["frozen_prefix_cache"] == scope
    assert cached_curves.keys() == plain_curves.keys() and "eval/loss" in cached_curves
    for name, values in plain_curves.items():
        # Same data order and weights: the curves agree to float round-off.
        assert cached_curves[name] == pytest.approx(values, rel=1e-4, abs=1e-6), name
    for key in ("epochs_run", "best_epoch", "saved_epoch", "trainable_params", "total_params"):
        assert cached[key] == plain[key]
    assert cached["eval"]["loss"] == pytest.approx(plain["eval"]["loss"], rel=1e-4)
    plain_model, cached_model = load_model(tmp_path / "cache_False.keras"), load_model(tmp_path / "cache_True.keras")
    assert without_object_ids(cached_model.get_config()) == without_object_ids(plain_model.get_config())
    images = np.random.default_rng(0).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(cached_model.predict(images, verbose=0), plain_model.predict(images, verbose=0),
                               rtol=1e-4, atol=1e-6)


def test_frozen_prefix_split_reproduces_the_model():
    images = np.random.default_rng(1).uniform(0, 255, size=(4, 32, 32, 3)).astype("float32")
    model = small_vgg16_model(augmentation=True)
    unfreeze_blocks(model, ["block4", "block5"])
    prefix, suffix, boundary = split_frozen_prefix(model)
    assert boundary == "block3_pool"
    np.testing.assert_allclose(
        suffix.predict(prefix.predict(images, verbose=0), verbose=0), model.predict(images, verbose=0), rtol=1e-5
    )
    assert prefix.trainable_weights == [] and len(suffix.trainable_weights) == len(model.trainable_weights)
    # From-scratch CNNs train from their first conv layer on: nothing to cache.
    assert split_frozen_prefix(small_scratch_model()) is None


# ----------------------------------------------------------------------------------------------- VGG16 weights


def read_weights(path: Path) -> list[np.ndarray]:
    base = build_vgg16_base(image_size=32, weights_path=path, seed=0)
    return base.get_weights()


def test_offline_imagenet_falls_back_to_seeded_random_with_a_loud_warning(tmp_path, capsys):
    out, info_path = tmp_path / "vgg16_notop.weights.h5", tmp_path / "vgg16_info.json"
    info = resolve_vgg16_weights(weights="imagenet", strict=False, seed=0, out_path=out, info_path=info_path)
    assert info["source"] == "random" and info["requested"] == "imagenet"
    assert json.loads(info_path.read_text()) == info
    warning = capsys.readouterr().err
    assert "RANDOM weights" in warning and IMAGENET_NOTOP_URL in warning
    assert str(tmp_path / "keras_home" / "models" / IMAGENET_NOTOP_FILENAME) in warning
    assert len(warning.splitlines()) >= 5
    # The fallback is exactly the "none" weights of the same seed: byte-identical file, same sha256.
    again = resolve_vgg16_weights(
        weights="none", strict=False, seed=0, out_path=tmp_path / "none.weights.h5", info_path=tmp_path / "none.json"
    )
    assert again["sha256"] == info["sha256"]
    assert (tmp_path / "none.weights.h5").read_bytes() == out.read_bytes()
    other = resolve_vgg16_weights(
        weights="none", strict=False, seed=1, out_path=tmp_path / "s1.weights.h5", info_path=tmp_path / "s1.json"
    )
    assert other["sha256"] != info["sha256"]


def test_strict_imagenet_offline_is_a_user_error(tmp_path):
    with pytest.raises(UserError) as raised:
        resolve_vgg16_weights(
            weights="imagenet", strict=True, seed=0, out_path=tmp_path / "w.weights.h5", info_path=tmp_path / "i.json"
        )
    assert "pretrained.weights" in str(raised.value) and "pretrained.strict" in str(raised.value)
    assert not (tmp_path / "w.weights.h5").exists() and not (tmp_path / "i.json").exists()


@pytest.mark.parametrize(("name", "problem"), [("nowhere.h5", "does not exist"), ("", "is a folder, not a file")])
def test_missing_weights_path_is_a_user_error(tmp_path, name, problem):
    with pytest.raises(UserError, match=f"pretrained.weights: file .*{name}' {problem}"):
        resolve_vgg16_weights(
            weights=str(tmp_path / name),
            strict=False,
            seed=0,
            out_path=tmp_path / "w.weights.h5",
            info_path=tmp_path / "i.json",
        )
    assert not (tmp_path / "w.weights.h5").exists()


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_unloadable_weights_file_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.weights.h5"
    with h5py.File(bad, "w") as handle:
        handle.create_dataset("junk", data=np.zeros(3))
    with pytest.raises(UserError, match="pretrained.weights"):
        resolve_vgg16_weights(
            weights=str(bad), strict=False, seed=0, out_path=tmp_path / "w.weights.h5", info_path=tmp_path / "i.json"
        )


def test_weights_file_round_trip(tmp_path):
    first = tmp_path / "first.weights.h5"
    resolve_vgg16_weights(weights="none", strict=False, seed=7, out_path=first, info_path=tmp_path / "first.json")
    info = resolve_vgg16_weights(
        weights=str(first), strict=False, seed=0, out_path=tmp_path / "second.weights.h5", info_path=tmp_path / "s.json"
    )
    assert info["source"] == "file" and info["requested"] == str(first)
    for a, b in zip(read_weights(first), read_weights(tmp_path / "second.weights.h5"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_imagenet_weights_are_taken_from_the_keras_cache(tmp_path):
    """A file placed by hand in $KERAS_HOME/models (Keras' legacy .h5 layout) is used without any download."""
    from keras.src.legacy.saving import legacy_h5_format

    cache = tmp_path / "keras_home" / "models" / IMAGENET_NOTOP_FILENAME
    cache.parent.mkdir(parents=True)
    stand_in = build_vgg16_base(image_size=32, weights_path=None, seed=42)
    with h5py.File(cache, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, stand_in)
    out = tmp_path / "w.weights.h5"
    info = resolve_vgg16_weights(weights="imagenet", strict=True, seed=0, out_path=out, info_path=tmp_path / "i.json")
    assert info["source"] == "imagenet" and str(cache) in info["reason"]
    for a, b in zip(stand_in.get_weights(), read_weights(out), strict=True):
        np.testing.assert_array_equal(a, b)


_DISTRIBUTED_SCRIPT = """
import sys
from pathlib import Path
import tensorflow as tf
# Two logical CPU devices stand in for two GPUs; this must happen before TensorFlow touches any device.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from emotion_lib.architecture import ScratchSpec
from emotion_lib.trials import run_trial
from tests.test_training import tiny_run
out = Path(sys.argv[3])
spec = ScratchSpec(image_size=16, channels=1, padding="same")
run = tiny_run("distributed", distribute=sys.argv[4], model=spec, epochs=2)
run_trial(run, data_dir=Path(sys.argv[2]), model_path=out / "model.keras", live_dir=out / "live")
"""


def test_mirrored_strategy_trains_over_two_devices_with_the_same_outputs(data_dir, tmp_path):
    """train.distribute: mirrored runs data-parallel over 2 logical CPU devices (the code path a multi-GPU box runs)."""
    results = {}
    for mode in ("none", "mirrored"):
        out = tmp_path / mode
        subprocess.run([sys.executable, "-c", _DISTRIBUTED_SCRIPT, str(REPO_ROOT), str(data_dir), str(out), mode],
                       check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, cwd=tmp_path)
        results[mode] = (json.loads((out / "live" / "metrics.json").read_text()), read_curves(out / "live"))
        assert load_model(out / "model.keras").count_params() == results[mode][0]["total_params"]
    (single, single_curves), (mirrored, mirrored_curves) = results["none"], results["mirrored"]
    assert (single["replicas"], single["global_batch_size"]) == (1, 8)
    assert (mirrored["replicas"], mirrored["global_batch_size"]) == (2, 16)  # batch_size 8 per replica
    assert set(mirrored) == set(single) and mirrored_curves.keys() == single_curves.keys()
    assert len(mirrored_curves["eval/loss"]) == mirrored["epochs_run"]
