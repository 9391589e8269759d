"""Tests of the vgg_bn trial's recipe: config, model, optimiser and schedule, label smoothing, full split, precision.

Data and models are tiny (7 classes of random 48x48 images, widths [4, 8]); no test trains more than 2 epochs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from emotion_lib import EMOTIONS
from emotion_lib.config import TrialRun, config_from_dict, load_config, stage_param_keys
from emotion_lib.errors import UserError
from emotion_lib.models import SmoothedSparseCrossentropy, build_model, load_model
from emotion_lib.precision import cpu_flags, dtype_policy, onednn_enabled, resolve_precision
from emotion_lib.training import make_optimizer, train_trial
from emotion_lib.trials import run_trial
from tests.pipeline_utils import edited

REPO_ROOT = Path(__file__).resolve().parents[1]
X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture(scope="module")
def real_params() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def tiny_vgg_bn_run(**overrides) -> TrialRun:
    """The real params' vgg_bn trial, shrunk: widths [4, 8], dense 8, batch 16, 2 epochs."""
    config = config_from_dict(edited(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()), {
        "trials.vgg_bn.widths": [4, 8], "trials.vgg_bn.dense_units": 8, "trials.vgg_bn.batch_size": 16,
        "trials.vgg_bn.epochs": 2}))
    run = config.trial_run("vgg_bn")
    return dataclasses.replace(run, **overrides)


# --- config --------------------------------------------------------------------------------------------------------


def test_vgg_bn_reads_its_own_batch_and_class_weight_never_the_seed_model_keys(real_params):
    config = config_from_dict(real_params)
    keys = stage_param_keys(config, "train", "vgg_bn")
    assert "trials.vgg_bn" in keys and "train.precision" in keys
    assert not [key for key in keys if key.startswith("model.") or key in ("train.batch_size", "train.class_weight")]
    # A trial of the original study still reads the shared ones.
    assert {"train.batch_size", "train.class_weight"} <= set(stage_param_keys(config, "train", "baseline"))
    changed = config_from_dict(edited(real_params, {"train.batch_size": 7, "model.image_size": 96}))
    assert changed.trial_run("vgg_bn") == config.trial_run("vgg_bn")
    assert config.trial_run("vgg_bn").batch_size == real_params["trials"]["vgg_bn"]["batch_size"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        # A key of another backbone is unknown to this one, with the keys it does know.
        ("trials.baseline.widths", [8, 16], "trials.baseline.widths: unknown key; known keys in trials.baseline"),
        ("trials.baseline.batch_size", 0, "trials.baseline.batch_size"),
        ("trials.vgg_bn.widths", [], "trials.vgg_bn.widths"),
        ("trials.vgg_bn.image_size", 8, "trials.vgg_bn.image_size"),
        ("trials.vgg_bn.optimizer", "rmsprop", "trials.vgg_bn.optimizer"),
        ("trials.vgg_bn.schedule", "step", "trials.vgg_bn.schedule"),
        ("trials.vgg_bn.warmup_epochs", 99, "trials.vgg_bn.warmup_epochs"),
        ("trials.vgg_bn.label_smoothing", 1.0, "trials.vgg_bn.label_smoothing"),
        ("trials.vgg_bn.train_split", "all", "trials.vgg_bn.train_split"),
        ("trials.vgg_bn.erasing", 1.5, "trials.vgg_bn.erasing"),
        ("trials.vgg_bn.class_weight", "inverse", "trials.vgg_bn.class_weight"),
        ("trials.augmentation.weight_decay", 0.01, "trials.augmentation.weight_decay"),
        ("train.precision", "float16", "train.precision"),
        ("evaluate.vgg_bn.test_time_flip", "yes", "evaluate.vgg_bn.test_time_flip"),
        ("evaluate.vgg_bn.test_time_shift", 13, "evaluate.vgg_bn.test_time_shift"),
        ("evaluate.vgg_bn.test_time_shift", -1, "evaluate.vgg_bn.test_time_shift"),
        ("evaluate.vgg_bn.test_time_shift", 2.5, "evaluate.vgg_bn.test_time_shift"),
        ("evaluate.vgg_bn.test_time_shift", True, "evaluate.vgg_bn.test_time_shift"),
        ("evaluate.vgg_bn.test_time_shfit", 3, "evaluate.vgg_bn.test_time_shfit: unknown key; did you mean"),
        ("evaluate.vgg_nb", {"test_time_shift": 3}, "evaluate.vgg_nb: unknown trial; did you mean 'vgg_bn'"),
        ("evaluate.vgg_bn", 3, "evaluate.vgg_bn: expected a mapping"),
    ],
)
def test_bad_recipe_values_name_the_key(real_params, key, value, expected):
    with pytest.raises(UserError) as info:
        config_from_dict(edited(real_params, {key: value}))
    assert expected in str(info.value)


def test_a_schedule_and_reduce_lr_are_refused_together(real_params):
    with pytest.raises(UserError, match="trials.vgg_bn.schedule"):
        config_from_dict(edited(real_params, {"train.reduce_lr.enabled": True}))


def test_test_time_views_are_read_per_trial(real_params):
    config = config_from_dict(real_params)
    assert config.test_time_flip("vgg_bn") is True and config.test_time_flip("baseline") is False
    assert stage_param_keys(config, "evaluate", "vgg_bn") == ["evaluate.vgg_bn"]
    # A trial without an entry is scored in one pass and its evaluation reads no params key.
    assert "baseline" not in real_params["evaluate"] and stage_param_keys(config, "evaluate", "baseline") == []
    flipped = config_from_dict(edited(real_params, {"evaluate.vgg_bn.test_time_flip": False,
                                                    "evaluate.vgg_bn.test_time_shift": 2}))
    assert flipped.test_time_flip("vgg_bn") is False
    assert flipped.test_time_shift("vgg_bn") == 2
    shift_only = config_from_dict(edited(real_params, {"evaluate.vgg_bn": {"test_time_shift": 1}}))
    assert shift_only.views("vgg_bn").test_time_flip is False and shift_only.test_time_shift("vgg_bn") == 1
    assert flipped.test_time_shift("baseline") == 0


# --- model ---------------------------------------------------------------------------------------------------------


def test_vgg_bn_model_has_the_documented_layers():
    spec = tiny_vgg_bn_run().model
    spec = dataclasses.replace(spec, augmentation=dataclasses.replace(spec.augmentation, erasing=0.5))
    model = build_model(spec, num_classes=7, seed=0)
    names = [layer.name for layer in model.layers]
    assert names[1:6] == ["augment_flip", "augment_shift", "augment_rotation", "augment_zoom", "augment_erasing"]
    assert model.input_shape == (None, 48, 48, 1)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [4, 4, 8, 8]
    assert not any(conv.use_bias for conv in convs)
    bns = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns == ["block1_bn1", "block1_bn2", "block2_bn1", "block2_bn2", "dense_bn"]
    assert model.get_layer("head_dropout").rate == pytest.approx(spec.dropout)
    assert model.get_layer("block2_pool").output.shape[1:3] == (12, 12)


def test_augmentation_changes_training_images_only():
    model = build_model(tiny_vgg_bn_run().model, num_classes=7, seed=0)
    augment = keras.Model(model.input, model.get_layer("augment_zoom").output)
    images = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    assert np.array_equal(augment(images, training=False), images)
    assert not np.allclose(augment(images, training=True), images)


@pytest.mark.parametrize("erasing", [0.25, 0.5])
def test_erasing_erases_that_fraction_of_the_images(erasing):
    # Keras' RandomErasing reads a single float p as "a probability drawn from [0, p]", which erases p / 2 of the
    # images; the param means the fraction itself.
    spec = tiny_vgg_bn_run().model
    spec = dataclasses.replace(spec, augmentation=dataclasses.replace(spec.augmentation, erasing=erasing))
    model = build_model(spec, num_classes=7, seed=0)
    erase = keras.Sequential([model.get_layer("augment_erasing")])
    images = np.full((4000, 48, 48, 1), 128.0, "float32")
    erased = np.any(keras.ops.convert_to_numpy(erase(images, training=True)) != images, axis=(1, 2, 3))
    # 4,000 Bernoulli draws: the standard error is under 0.008, so 0.03 is almost four of them.
    assert erased.mean() == pytest.approx(erasing, abs=0.03)


def test_classifier_stays_float32_under_mixed_precision():
    with dtype_policy("mixed_bfloat16"):
        model = build_model(tiny_vgg_bn_run().model, num_classes=7, seed=0)
        assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
        assert model.get_layer("classifier").compute_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"
    output = model(np.zeros((2, 48, 48, 1), "float32"))
    assert keras.backend.standardize_dtype(output.dtype) == "float32"


# --- precision ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "gpus", "flags", "expected"),
    [
        ("auto", 0, {"avx2", "fma"}, "float32"),
        ("auto", 0, {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ("auto", 0, {"amx_bf16"}, "mixed_bfloat16"),
        ("auto", 1, {"avx2"}, "mixed_float16"),
        ("float32", 1, {"amx_bf16"}, "float32"),
        ("mixed_bfloat16", 0, set(), "mixed_bfloat16"),
    ],
)
def test_auto_precision_uses_16_bits_only_where_the_hardware_has_it(mode, gpus, flags, expected):
    assert resolve_precision(mode, gpus=gpus, flags=flags) == expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def _python(code: str, **environment: str) -> str:
    """Run ``code`` in a fresh interpreter without TF_ENABLE_ONEDNN_OPTS (plus ``environment``); its stdout."""
    base = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env={**base, **environment},
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not X86, reason="the oneDNN default applies to x86 CPUs")
def test_the_library_turns_on_onednn_kernels_on_x86_before_tensorflow_loads():
    # TensorFlow leaves oneDNN off on AVX2-only CPUs (this CI class); training and evaluation must get it anyway.
    assert _python("import emotion_lib, tensorflow; from emotion_lib.precision import onednn_enabled; "
                   "print(onednn_enabled())") == "True"
    # The user's explicit choice wins (checked without importing TensorFlow).
    assert _python("import emotion_lib, os; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])",
                   TF_ENABLE_ONEDNN_OPTS="0") == "0"


# --- optimiser, schedule and loss ------------------------------------------------------------------------------------


def test_cosine_schedule_warms_up_then_decays_to_zero():
    run = tiny_vgg_bn_run(epochs=5, warmup_epochs=1, learning_rate=0.01)
    optimizer = make_optimizer(run, steps_per_epoch=10)
    schedule = optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50)]
    assert rates[0] == pytest.approx(0.0)
    assert rates[1] == pytest.approx(0.005)
    assert rates[2] == pytest.approx(0.01)
    assert rates[3] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 20 / 40)), rel=1e-5)
    assert rates[4] == pytest.approx(0.0, abs=1e-9)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.weight_decay == pytest.approx(run.weight_decay)


def test_weight_decay_skips_batchnorm_and_biases():
    run = tiny_vgg_bn_run()
    model = build_model(run.model, num_classes=7, seed=0)
    optimizer = make_optimizer(run, steps_per_epoch=10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed and all(path.endswith("kernel") for path in decayed)
    assert any(path.endswith("gamma") for path in {v.path for v in model.trainable_variables})


def test_sgd_nesterov_and_constant_rate():
    optimizer = make_optimizer(tiny_vgg_bn_run(optimizer="sgd_nesterov", schedule="constant", learning_rate=0.05),
                               steps_per_epoch=3)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov and optimizer.momentum == 0.9
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


def test_label_smoothing_matches_the_formula():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    labels = np.array([0, 2])
    smoothing = 0.3
    targets = np.full((2, 3), smoothing / 3) + np.eye(3)[labels] * (1 - smoothing)
    expected = float(np.mean(-(targets * np.log(probabilities)).sum(axis=1)))
    loss = SmoothedSparseCrossentropy(smoothing, num_classes=3)
    assert float(loss(labels, probabilities)) == pytest.approx(expected, rel=1e-5)
    assert float(SmoothedSparseCrossentropy(0.0, num_classes=3)(labels, probabilities)) == pytest.approx(
        float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)), rel=1e-5)


# --- training on the full split --------------------------------------------------------------------------------------


def write_split_data(data_dir: Path) -> Path:
    """train.npz with 2 images per class, train_full.npz with 5 (class 3 with 20), val and test with 2."""
    rng = np.random.default_rng(1)
    data_dir.mkdir(parents=True, exist_ok=True)
    sizes = {"train": [2] * 7, "train_full": [5, 5, 5, 20, 5, 5, 5], "val": [2] * 7, "test": [2] * 7}
    for split, per_class in sizes.items():
        labels = np.repeat(np.arange(7), per_class).astype(np.int64)
        np.savez(data_dir / f"{split}.npz", labels=labels,
                 images=rng.integers(0, 256, (labels.size, 48, 48), dtype=np.uint8))
    (data_dir / "meta.json").write_text(json.dumps({"emotions": list(EMOTIONS)}))
    return data_dir


@pytest.mark.parametrize(("split", "images"), [("full", 50), ("undersampled", 14)])
def test_train_split_picks_the_training_array(tmp_path, split, images):
    data_dir = write_split_data(tmp_path / "data")
    run = tiny_vgg_bn_run(epochs=1, warmup_epochs=0, train_split=split)
    metrics = run_trial(run, data_dir=data_dir, model_path=tmp_path / "m.keras", live_dir=tmp_path / "live")
    assert metrics["train_split"] == split
    # tiny_vgg_bn_run keeps train.precision: auto, recorded as what it resolved to on this machine (float32 on
    # AVX2 CPUs, mixed_bfloat16 on AVX512-BF16 ones such as AMD Zen 4/5).
    assert metrics["precision"] == resolve_precision("auto", gpus=0, flags=cpu_flags())
    assert metrics["onednn"] is onednn_enabled() is X86  # conftest imports emotion_lib before TensorFlow
    steps = math.ceil(images / run.batch_size)
    assert json.loads((tmp_path / "live" / "timing.json").read_text())["train_steps_per_epoch"] == steps


def test_recipe_trains_logs_its_schedule_and_reloads(tmp_path):
    data_dir = write_split_data(tmp_path / "data")
    # Smoothing is off in the recipe (docs/vgg_bn-recipe.md), but the smoothed loss must still save and reload.
    run = tiny_vgg_bn_run(epochs=2, warmup_epochs=1, learning_rate=0.01, label_smoothing=0.1)
    run_trial(run, data_dir=data_dir, model_path=tmp_path / "m.keras", live_dir=tmp_path / "live")
    rates = (tmp_path / "live/plots/metrics/train/learning_rate.tsv").read_text().split()
    logged = [float(value) for value in rates[3::2]]
    # After the warm-up epoch the rate is at its peak; after the last epoch the cosine has reached 0.
    assert logged[0] == pytest.approx(0.01, rel=1e-4) and logged[1] == pytest.approx(0.0, abs=1e-8)
    model = load_model(tmp_path / "m.keras")
    assert isinstance(model.loss, SmoothedSparseCrossentropy)
    assert model.loss.label_smoothing == pytest.approx(run.label_smoothing)


def test_class_weights_reach_fit(tmp_path, monkeypatch):
    data_dir = write_split_data(tmp_path / "data")
    seen = {}
    original = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen["class_weight"] = kwargs.get("class_weight")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    run = tiny_vgg_bn_run(epochs=1, warmup_epochs=0, class_weight="balanced")
    model = build_model(run.model, num_classes=7, seed=0)
    train_trial(model, run, data_dir=data_dir, model_path=tmp_path / "m.keras", live_dir=tmp_path / "live")
    # 50 images, 7 classes: happy (20) gets 50 / (7 * 20), the others 50 / (7 * 5).
    assert seen["class_weight"][3] == pytest.approx(50 / 140) and seen["class_weight"][0] == pytest.approx(50 / 35)


def test_params_yaml_recipe_is_valid():
    config = load_config(REPO_ROOT / "params.yaml")
    run = config.trial_run("vgg_bn")
    assert run.train_split == "full" and run.model.image_size == 48 and run.model.channels == 1
