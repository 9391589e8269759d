"""The one input pipeline (emotion_lib.inputs): every consumer sees the same pixels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotion_lib import EMOTIONS
from emotion_lib.errors import UserError
from emotion_lib.inputs import load_split, make_dataset, model_inputs, read_emotions
from tests.test_training import write_tiny_data


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_tiny_data(tmp_path_factory.mktemp("data"))


def test_load_split_reads_the_prepared_arrays(data_dir):
    images, labels = load_split(data_dir, "train")
    assert images.shape == (42, 48, 48) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and sorted(set(labels.tolist())) == list(range(len(EMOTIONS)))


def test_load_split_missing_or_bad_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="train.npz: missing; run `dvc repro prepare`"):
        load_split(tmp_path, "train")
    np.savez(tmp_path / "val.npz", images=np.zeros((2, 48, 48), np.float32), labels=np.zeros(2, np.int64))
    with pytest.raises(UserError, match="'images' must be uint8"):
        load_split(tmp_path, "val")
    (tmp_path / "test.npz").write_text(json.dumps({"not": "an archive"}))
    with pytest.raises(UserError, match="test.npz is not a prepared split"):
        load_split(tmp_path, "test")


def test_make_dataset_resizes_replicates_and_keeps_0_255(data_dir):
    images, labels = load_split(data_dir, "val")
    batches = list(make_dataset(images, labels, image_size=32, channels=3, batch_size=8).as_numpy_iterator())
    assert [len(batch[1]) for batch in batches] == [8, 8, 5]
    first_images, first_labels = batches[0]
    assert first_images.shape == (8, 32, 32, 3) and first_images.dtype == np.float32
    # Resized pixels are rounded back to integers in 0..255.
    np.testing.assert_array_equal(first_images, np.round(first_images))
    assert first_images.min() >= 0 and first_images.max() <= 255 and first_images.max() > 1
    np.testing.assert_array_equal(first_images[..., 0], first_images[..., 2])  # grayscale replicated to RGB
    np.testing.assert_array_equal(first_labels, labels[:8])
    native = next(iter(make_dataset(images, labels, image_size=48, channels=1, batch_size=4)))
    np.testing.assert_array_equal(native[0].numpy()[..., 0], images[:4])  # no resize at the native size


def test_make_dataset_shuffle_is_seeded_and_reshuffles_each_epoch(data_dir):
    images, labels = load_split(data_dir, "train")

    def epoch_orders(seed):
        dataset = make_dataset(images, labels, image_size=48, channels=1, batch_size=64, shuffle=True, seed=seed)
        return [np.concatenate([batch[1] for batch in dataset.as_numpy_iterator()]) for _ in range(2)]

    first, again = epoch_orders(1), epoch_orders(1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])


def test_every_training_and_prediction_dataset_runs_without_the_autotuning_thread(data_dir):
    # Destroying an autotuned iterator, which Keras does every epoch, idled 1.7-2.3 s on a timed sleep of that
    # thread (emotion_lib.inputs.without_autotune); a pipeline that gets it back loses a fifth of a small trial.
    from emotion_lib.training import make_feature_dataset

    images, labels = load_split(data_dir, "train")
    datasets = [
        make_dataset(images, labels, image_size=48, channels=1, batch_size=8, shuffle=True, seed=0),
        make_dataset(images, None, image_size=80, channels=3, batch_size=8),
        make_feature_dataset(np.zeros((len(labels), 4), np.float32), labels, batch_size=8, shuffle=True),
    ]
    assert [dataset.options().autotune.enabled for dataset in datasets] == [False, False, False]
    # Switching it off changes neither what comes out nor its order.
    def seeded():
        return make_dataset(images, labels, image_size=48, channels=1, batch_size=64, shuffle=True, seed=3)

    ours_batches, tuned = seeded().as_numpy_iterator(), seeded().with_options(_autotune_on())
    assert tuned.options().autotune.enabled is True
    for ours, theirs in zip(ours_batches, tuned.as_numpy_iterator(), strict=True):
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


def _autotune_on():
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = True
    return options


@pytest.mark.parametrize(("image_size", "channels"), [(80, 1), (32, 3), (48, 3)])
def test_training_and_evaluation_paths_give_identical_tensors(data_dir, image_size, channels):
    """What training feeds (labelled, batched) equals what evaluation and prediction feed for the same images."""
    images, labels = load_split(data_dir, "test")
    training = np.concatenate([x for x, _ in make_dataset(
        images, labels, image_size=image_size, channels=channels, batch_size=16).as_numpy_iterator()])
    evaluation = np.concatenate(list(make_dataset(
        images, None, image_size=image_size, channels=channels, batch_size=7).as_numpy_iterator()))
    eager = model_inputs(images, image_size=image_size, channels=channels)
    assert training.shape == (len(images), image_size, image_size, channels)
    np.testing.assert_array_equal(training, evaluation)
    np.testing.assert_array_equal(training, eager)


def test_evaluation_feeds_the_model_the_training_pixels(data_dir):
    """evaluation.predict_probabilities runs the model on exactly make_dataset's tensors."""
    from emotion_lib.architecture import ScratchSpec
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import build_model

    model = build_model(ScratchSpec(image_size=20, channels=3, padding="same"), num_classes=len(EMOTIONS))
    images, labels = load_split(data_dir, "test")
    through_training = model.predict(
        make_dataset(images, labels, image_size=20, channels=3, batch_size=16).map(lambda x, y: x), verbose=0
    )
    np.testing.assert_allclose(predict_probabilities(model, images, batch_size=5), through_training, atol=1e-6)


def test_read_emotions_returns_prepares_class_names_and_names_the_file_when_it_cannot(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"emotions": ["happy", "sad"], "image_size": 48}))
    assert read_emotions(tmp_path) == ["happy", "sad"]
    for text, problem in [(None, "not found"), ("{", "not valid JSON"), ('["happy", "sad"]', "JSON object"),
                          ('{"emotions": "happy"}', "'emotions' list"), ('{"emotions": ["happy"]}', "'emotions' list")]:
        meta.unlink(missing_ok=True)
        if text is not None:
            meta.write_text(text)
        with pytest.raises(UserError, match=problem) as raised:
            read_emotions(tmp_path)
        assert str(meta) in str(raised.value) and "dvc repro prepare" in str(raised.value)


def test_input_geometry_names_the_model_it_refuses():
    import keras

    from emotion_lib.inputs import input_geometry

    wide = keras.Model(inputs := keras.Input((16, 24, 1)), keras.layers.Flatten()(inputs))
    assert input_geometry(keras.Model(square := keras.Input((16, 16, 3)), square)) == (16, 3)
    with pytest.raises(UserError, match=r"model models/wide.keras must take one square image input .*this project"):
        input_geometry(wide, "model models/wide.keras")
    with pytest.raises(UserError, match="model 'two_channels' takes 2 channels"):
        input_geometry(keras.Model(two := keras.Input((16, 16, 2)), two, name="two_channels"))
