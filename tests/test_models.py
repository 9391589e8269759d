"""Tests of the model factory: fidelity to the original study's layer tables, input checks, safe-mode round trips.

Everything builds VGG16 with ``weights=None`` (or a local file), so no test
needs the network.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from emotion_lib.architecture import ModelSpec, ScratchSpec, VGG16Spec, VggBnSpec, min_input_size
from emotion_lib.config import load_config
from emotion_lib.errors import UserError
from emotion_lib.models import (
    FusedBatchNormalization,
    VGG16Preprocess,
    build_model,
    build_vgg16_base,
    ensemble_members,
    ensemble_model,
    fold_temperature,
    load_model,
    save_model,
    unfreeze_blocks,
)
from emotion_lib.precision import dtype_policy
from emotion_lib.training import count_params

REPO_ROOT = Path(__file__).resolve().parents[1]
ORIGINAL_SIZE = 180  # the original study's input: 180x180 RGB


def original_architecture(trial: str) -> ModelSpec:
    """The model spec the real params.yaml gives ``trial``, at the original study's 180x180x3 input."""
    config = load_config(REPO_ROOT / "params.yaml")
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, image_size=ORIGINAL_SIZE, channels=3),
        pretrained=dataclasses.replace(config.pretrained, image_size=ORIGINAL_SIZE),
    )
    return config.trial_run(trial).model


TRIALS = {name: original_architecture(name) for name in
          ("baseline", "early_stopping", "augmentation", "dropout", "l2", "vgg16_features")}

# Layer types of the original study's model tables ( "Layer (type)" columns of sections 5.1-6.2), in order.
_CONV_POOL = ["Conv2D", "MaxPooling2D"] * 4 + ["Conv2D"]
SEED_LAYER_TYPES = {
    "baseline": ["InputLayer", "Rescaling", *_CONV_POOL, "Flatten", "Dense"],  # 5.1
    "early_stopping": ["InputLayer", "Rescaling", *_CONV_POOL, "Flatten", "Dense"],  # 5.2: 5.1's model + callback
    # 5.3's printed table lacks the augmentation block its text says was "added as an additional layer in model";
    # 5.4's table shows it (Sequential, right after the input), as here.
    "augmentation": ["InputLayer", "Sequential", "Rescaling", *_CONV_POOL, "Flatten", "Dense"],
    "dropout": ["InputLayer", "Sequential", "Rescaling", *_CONV_POOL, "Flatten", "Dropout", "Dense"],  # 5.4
    "l2": ["InputLayer", "Sequential", "Rescaling", *(["Conv2D", "Dropout", "MaxPooling2D"] * 4),  # 5.5 (figure 17)
           "Conv2D", "Dropout", "Flatten", "Dropout", "Dense", "Dense"],
    "vgg16_features": ["InputLayer", "Sequential", "SlicingOpLambda", "TFOpLambda", "Functional", "Flatten",
                       "Dense", "Dropout", "Dense"],  # 6.1 (6.2 fine-tunes the same model)
}


def layer_types(model: keras.Model) -> list[str]:
    """``model``'s top-level layer types in the original study's vocabulary (Keras 2 summaries)."""
    types: list[str] = []
    for layer in model.layers:
        name = type(layer).__name__
        if name.startswith("Random"):
            # The original study wrapped its augmentation layers in one Sequential model.
            if types[-1] != "Sequential":
                types.append("Sequential")
        elif isinstance(layer, VGG16Preprocess):
            # keras.applications.vgg16.preprocess_input showed up as two op layers: channel flip and bias add.
            types += ["SlicingOpLambda", "TFOpLambda"]
        elif isinstance(layer, keras.Model):
            types.append("Functional")
        else:
            types.append(name)
    return types


@pytest.mark.parametrize("trial", sorted(SEED_LAYER_TYPES))
def test_layer_types_match_the_original_study_tables(trial):
    assert layer_types(build_model(TRIALS[trial], num_classes=7)) == SEED_LAYER_TYPES[trial]


@pytest.mark.parametrize(
    ("trial", "total", "trainable"),
    [
        ("baseline", 1_066_311, 1_066_311),
        ("early_stopping", 1_066_311, 1_066_311),
        ("augmentation", 1_066_311, 1_066_311),
        ("dropout", 1_066_311, 1_066_311),
        ("l2", 7_405_127, 7_405_127),
        ("vgg16_features", 17_993_543, 3_278_855),
    ],
)
def test_parameter_counts_match_the_original_study_tables(trial, total, trainable):
    model = build_model(TRIALS[trial], num_classes=7)
    assert model.count_params() == total
    assert count_params(model.trainable_weights) == trainable


def test_unfreezing_block5_matches_the_original_fine_tuning_table():
    model = build_model(TRIALS["vgg16_features"], num_classes=7)
    unfreeze_blocks(model, ["block5"])
    assert count_params(model.trainable_weights) == 10_358_279
    assert model.count_params() == 17_993_543
    base = model.get_layer("vgg16")
    assert [layer.name for layer in base.layers if layer.trainable_weights] == [
        "block5_conv1",
        "block5_conv2",
        "block5_conv3",
    ]


def test_l2_trial_layer_order_follows_the_original_table():
    model = build_model(TRIALS["l2"], num_classes=7)
    names = [layer.name for layer in model.layers]
    # Dropout right after every convolution (before its pool), the last convolution included.
    for index in range(1, 6):
        assert names.index(f"block{index}_dropout") == names.index(f"block{index}_conv") + 1
    assert names[-4:] == ["flatten", "flatten_dropout", "dense_hidden", "classifier"]
    assert model.get_layer("dense_hidden").kernel_regularizer.get_config() == {"l2": pytest.approx(0.01)}
    # The Flatten dropout is the dropout trial's (cumulative trials), block dropouts are trials.l2.block_dropout.
    params = load_config(REPO_ROOT / "params.yaml")
    assert model.get_layer("flatten_dropout").rate == params.model.dropout
    assert model.get_layer("block1_dropout").rate == params.trials["l2"].block_dropout


def test_augmentation_and_preprocessing_layers_have_no_parameters():
    model = build_model(dataclasses.replace(TRIALS["vgg16_features"], image_size=32), num_classes=7)
    for name in ("augment_flip", "augment_rotation", "augment_zoom", "vgg16_preprocess"):
        assert model.get_layer(name).count_params() == 0


def test_min_input_size_is_computed_from_the_stack():
    assert min_input_size("valid") == 78
    assert min_input_size("same") == 16
    with pytest.raises(ValueError, match="padding"):
        min_input_size("causal")


def test_the_smallest_valid_padding_input_builds():
    # Smaller inputs are refused by config (model.image_size), where every param is validated once.
    assert build_model(ScratchSpec(image_size=78, channels=1), num_classes=7).output_shape == (None, 7)


def test_same_padding_builds_at_the_native_48_px():
    model = build_model(ScratchSpec(image_size=48, channels=1, padding="same"), num_classes=7)
    assert model.output_shape == (None, 7)
    assert model.get_layer("flatten").output.shape[-1] == 3 * 3 * 256


def test_every_spec_has_its_builder_and_a_bad_class_count_is_refused():
    for spec in (ScratchSpec(image_size=48, channels=1, padding="same"), VGG16Spec(image_size=32, dense_units=8),
                 VggBnSpec(image_size=16, widths=(4,), dense_units=8)):
        assert build_model(spec, num_classes=5).output_shape == (None, 5)
    with pytest.raises(UserError, match="number of classes"):
        build_model(VggBnSpec(image_size=16, widths=(4,)), num_classes=1)


def test_unfreeze_blocks_rejects_unknown_blocks_and_scratch_models():
    vgg = build_model(VGG16Spec(image_size=32, dense_units=8), num_classes=7)
    with pytest.raises(UserError, match="block6"):
        unfreeze_blocks(vgg, ["block6"])
    scratch = build_model(ScratchSpec(image_size=48, channels=1, padding="same"), num_classes=7)
    with pytest.raises(UserError, match="vgg16"):
        unfreeze_blocks(scratch, ["block5"])


def test_vgg16_preprocess_matches_keras_preprocess_input():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(VGG16Preprocess()(images)), expected, rtol=1e-6, atol=1e-4)


def test_same_seed_builds_identical_weights():
    spec = VGG16Spec(image_size=32, dense_units=8)
    first, second = build_model(spec, num_classes=7, seed=3), build_model(spec, num_classes=7, seed=3)
    other = build_model(spec, num_classes=7, seed=4)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])


def test_vgg16_weights_are_loaded_from_the_given_file(tmp_path):
    source = build_vgg16_base(image_size=32, weights_path=None, seed=11)
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    model = build_model(VGG16Spec(image_size=48, dense_units=8, weights_path=str(path)), num_classes=7)
    for a, b in zip(source.get_weights(), model.get_layer("vgg16").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(UserError, match="does not exist"):
        build_model(VGG16Spec(image_size=48, dense_units=8, weights_path=str(tmp_path / "no.h5")), num_classes=7)


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("vgg16_augmented", dataclasses.replace(TRIALS["vgg16_features"], image_size=32)),
        ("l2", dataclasses.replace(TRIALS["l2"], image_size=48, padding="same", channels=1)),
    ],
)
# The models are compiled but never trained, so their optimizer has no variables to restore yet.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_safe_mode_round_trip(tmp_path, name, spec):
    model = build_model(spec, num_classes=7)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = load_model(path)  # safe_mode=True: fails on Lambda layers or unregistered custom layers
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.count_params() == model.count_params()
    assert count_params(loaded.trainable_weights) == count_params(model.trainable_weights)
    images = np.random.default_rng(0).uniform(0, 255, size=(3, *model.input_shape[1:])).astype("float32")
    # Inference mode: augmentation and dropout are inactive, so predictions must agree exactly.
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)
    assert keras.models.load_model(path, safe_mode=True).count_params() == model.count_params()


def _normalised_with_gradients(layer: keras.layers.Layer, images: np.ndarray, training: bool):
    """``layer``'s output on ``images`` and the gradients of a fixed random linear loss of it (images, gamma, beta).

    The loss weighs every output differently: a per-channel sum of normalised outputs would have zero gradient.
    """
    import tensorflow as tf

    inputs = tf.constant(images)
    loss_weights = tf.constant(np.random.default_rng(3).normal(size=images.shape).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=training)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") * loss_weights)
    gradients = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
    return np.asarray(tf.cast(outputs, "float32")), [np.asarray(gradient) for gradient in gradients]


def _twin_batch_norms(images: np.ndarray) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    """Keras' BatchNormalization and the fused one, built for ``images`` with the same non-trivial weights."""
    rng = np.random.default_rng(1)
    channels = images.shape[-1]
    weights = [rng.normal(1.0, 0.2, channels), rng.normal(0.0, 0.2, channels),  # gamma, beta
               rng.normal(0.0, 1.0, channels), rng.uniform(0.5, 2.0, channels)]  # moving mean, moving variance
    layers = keras.layers.BatchNormalization(), FusedBatchNormalization()
    for layer in layers:
        layer.build(images.shape)
        layer.set_weights([weight.astype("float32") for weight in weights])
    return layers


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_normalization_computes_what_keras_batch_normalization_does(training):
    images = np.random.default_rng(0).normal(2.0, 3.0, (8, 12, 12, 16)).astype("float32")
    reference, fused = _twin_batch_norms(images)
    initial_moving = [np.array(weight) for weight in reference.get_weights()[2:]]
    (expected, expected_gradients), (outputs, gradients) = (
        _normalised_with_gradients(layer, images, training) for layer in (reference, fused))
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    named = zip(("images", "gamma", "beta"), gradients, expected_gradients, strict=True)
    for name, gradient, expected_gradient in named:
        scale = np.abs(expected_gradient).max()
        np.testing.assert_allclose(gradient / scale, expected_gradient / scale, atol=1e-5, err_msg=name)
    # The moving statistics move in training (towards the batch's biased variance, as Keras' do) and only then.
    moving_pairs = zip(fused.get_weights()[2:], reference.get_weights()[2:], initial_moving, strict=True)
    for moving, expected_moving, initial in moving_pairs:
        np.testing.assert_allclose(moving, expected_moving, rtol=1e-6)
        assert np.array_equal(moving, initial) != training


@pytest.mark.parametrize("channels", [16, 24])  # 24: normalised in float32 (oneDNN's bfloat16 kernel is slow there)
def test_fused_batch_normalization_in_mixed_bfloat16_matches_within_bfloat16_rounding(channels):
    images = np.random.default_rng(0).normal(2.0, 3.0, (8, 12, 12, channels)).astype("float32")
    with dtype_policy("mixed_bfloat16"):
        reference, fused = _twin_batch_norms(images)
        for training in (True, False):
            expected, _ = _normalised_with_gradients(reference, images, training)
            outputs, _ = _normalised_with_gradients(fused, images, training)
            np.testing.assert_allclose(outputs, expected, atol=0.05)  # bfloat16 keeps 8 bits: ~0.4 % of ~4
        assert keras.backend.standardize_dtype(fused(images, training=False).dtype) == "bfloat16"  # back from float32
    # The moving variances (weight 3) after the training call.
    np.testing.assert_allclose(fused.get_weights()[3], reference.get_weights()[3], rtol=1e-3)


def test_fused_batch_normalization_falls_back_to_keras_on_dense_features():
    features = np.random.default_rng(0).normal(2.0, 3.0, (32, 16)).astype("float32")
    reference, fused = _twin_batch_norms(features)
    for training in (True, False):
        np.testing.assert_allclose(_normalised_with_gradients(fused, features, training)[0],
                                   _normalised_with_gradients(reference, features, training)[0], atol=1e-6)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_vgg_bn_round_trip_keeps_the_fused_batch_norms_and_their_statistics(tmp_path):
    model = build_model(VggBnSpec(image_size=16, widths=(4, 8), convs_per_block=1, dense_units=8, dropout=0.0),
                        num_classes=7, seed=0)
    fused = [layer for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    assert [layer.name for layer in fused] == ["block1_bn1", "block2_bn1"]
    rng = np.random.default_rng(2)
    for layer in fused:  # statistics a trained model would have, so a lost one changes the predictions
        gamma, beta, mean, variance = layer.get_weights()
        layer.set_weights([gamma, beta, rng.normal(0, 5, mean.shape), rng.uniform(0.1, 9, variance.shape)])
    path = tmp_path / "vgg_bn.keras"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    images = rng.uniform(0, 255, size=(3, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)


def test_saved_model_bytes_depend_on_the_model_alone(tmp_path):
    """The same seeded model trained twice, as new Python objects, and saved across a tick of the zip format's
    2-second clock, gives the same bytes: no save time, no memory address (Keras' shared_object_id)."""
    import time
    import zipfile

    from emotion_lib.training import set_global_determinism

    images = np.random.default_rng(0).uniform(0, 255, size=(4, 48, 48, 1)).astype("float32")
    paths, models = [tmp_path / "first.keras", tmp_path / "second.keras"], []
    for path in paths:
        keras.backend.clear_session()  # the same auto-generated layer names both times
        set_global_determinism(0)
        model = build_model(dataclasses.replace(TRIALS["augmentation"], image_size=48, channels=1, padding="same"),
                            num_classes=7)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(images, np.arange(4), epochs=1, verbose=0)  # so the optimizer state is saved too
        save_model(model, path)
        models.append(model)  # alive, so the second model's shared objects live at other addresses
        time.sleep(2.1)
    with zipfile.ZipFile(paths[0]) as archive:
        assert {info.filename for info in archive.infolist()} == {"metadata.json", "config.json", "model.weights.h5"}
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
        assert b'"shared_object_id": 1' in archive.read("config.json")  # the augmentation layers share one policy
    assert paths[0].read_bytes() == paths[1].read_bytes()
    loaded = load_model(paths[0])
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), models[0].predict(images, verbose=0))


def _saved(path: Path, outputs) -> Path:
    inputs = keras.Input((16, 16, 1))
    features = keras.layers.Conv2D(7, 3, padding="same")(inputs)
    keras.Model(inputs, outputs(features)).save(path)
    return path


@pytest.mark.parametrize(("outputs", "message"), [
    (lambda x: keras.layers.Dense(7)(keras.layers.Flatten()(x)), "outputs are not probabilities"),
    (lambda x: keras.layers.Softmax()(x), r"one \(None, classes\) output, got \(None, 16, 16, 7\)"),
], ids=["logits", "feature-map"])
def test_load_model_refuses_a_model_that_does_not_output_probabilities(tmp_path, outputs, message):
    path = _saved(tmp_path / "other.keras", outputs)
    with pytest.raises(UserError, match=f"{re.escape(str(path))}.*{message}.*retrain"):
        load_model(path, remedy="retrain")


def test_load_model_names_a_folder_and_a_file_that_is_not_a_model(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a file; retrain"):
        load_model(tmp_path, remedy="retrain")
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(b"PK\x03\x04cut")
    with pytest.raises(UserError, match="cut.keras is not a Keras model file .*truncated.*; retrain"):
        load_model(truncated, remedy="retrain")


def _tiny_vgg_bn(seed: int, precision: str = "float32") -> keras.Model:
    with dtype_policy(precision):
        return build_model(VggBnSpec(image_size=16, widths=(4, 8), convs_per_block=1, dense_units=8, dropout=0.0),
                           num_classes=7, seed=seed)


def test_an_ensemble_scores_the_softmax_of_its_members_mean_logits(tmp_path):
    members = [_tiny_vgg_bn(seed) for seed in (1, 2, 3)]
    images = np.random.default_rng(0).integers(0, 256, size=(20, 16, 16, 1)).astype("float32")
    member_logs = [np.log(member.predict(images, verbose=0)) for member in members]
    mean_logits = np.mean(member_logs, axis=0)  # log-softmax differs from the logits by a per-row constant only
    expected = np.exp(mean_logits) / np.exp(mean_logits).sum(axis=1, keepdims=True)
    ensemble = ensemble_model(members)
    np.testing.assert_allclose(ensemble.predict(images, verbose=0), expected, atol=1e-5)
    # One classifier layer, so a temperature folds into it as into any trial's model, and it saves and reloads.
    tempered = np.exp(mean_logits / 2.0) / np.exp(mean_logits / 2.0).sum(axis=1, keepdims=True)
    save_model(fold_temperature(ensemble, 2.0), tmp_path / "ensemble.keras")
    np.testing.assert_allclose(load_model(tmp_path / "ensemble.keras").predict(images, verbose=0), tempered,
                               atol=1e-5)


def test_an_ensemble_needs_members_of_one_input():
    with pytest.raises(ValueError, match="at least 2"):
        ensemble_model([_tiny_vgg_bn(1)])
    other = build_model(VggBnSpec(image_size=32, widths=(4, 8), convs_per_block=1, dense_units=8, dropout=0.0),
                        num_classes=7, seed=1)
    with pytest.raises(UserError, match="different inputs"):
        ensemble_model([_tiny_vgg_bn(1), other])


def test_an_ensemble_splits_into_members_that_rejoin_with_new_ones_exactly(tmp_path):
    """A saved, calibrated ensemble of 3, its temperature taken out and split, joined with a 4th member scores
    what the ensemble of all 4 built at once scores: how a release grows (release --extend)."""
    members = [_tiny_vgg_bn(seed) for seed in (1, 2, 3, 4)]
    rng = np.random.default_rng(5)
    for member in members:  # biases of their own, which the ensemble averages and its members then share
        kernel, bias = member.get_layer("classifier").get_weights()
        member.get_layer("classifier").set_weights([kernel, rng.normal(size=bias.shape).astype("float32")])
    images = np.random.default_rng(0).integers(0, 256, size=(20, 16, 16, 1)).astype("float32")
    save_model(fold_temperature(ensemble_model(members[:3]), 2.5), tmp_path / "three.keras")
    earlier = ensemble_members(fold_temperature(load_model(tmp_path / "three.keras"), 1 / 2.5))
    assert [member.name for member in earlier] == ["member1", "member2", "member3"]
    grown = ensemble_model([*earlier, members[3]])
    np.testing.assert_allclose(grown.predict(images, verbose=0), ensemble_model(members).predict(images, verbose=0),
                               atol=1e-5)
    # As flat as an ensemble built at once: the members' trunks, not models nesting models.
    assert [layer.name for layer in grown.layers] == ["image", "member1", "member2", "member3", "member4",
                                                      "member_features", "classifier"]
    with pytest.raises(UserError, match="is not an ensemble"):
        ensemble_members(members[0])
