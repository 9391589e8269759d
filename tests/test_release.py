"""The release packager on a tiny trained run: a calibrated model, its portable copy and every figure the model card
states, each recomputed here from the files it wrote."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from emotion_lib import EMOTIONS, calibration
from emotion_lib.views import average
from tests.pipeline_utils import REPO_ROOT, edited


def _sharp_model(spec, seed: int):
    from emotion_lib.models import build_model

    model = build_model(spec, num_classes=7, seed=seed)
    classifier = model.get_layer("classifier")  # sharper than untrained, so the temperature has work to do
    kernel, bias = classifier.get_weights()  # and a bias of its own, which an ensemble averages
    classifier.set_weights([kernel * 8, np.random.default_rng(seed).normal(size=bias.shape).astype("float32")])
    return model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A repository copy as `dvc exp run` leaves it: params, prepared splits, the trained trial and its metrics."""
    from emotion_lib.config import load_config
    from emotion_lib.models import save_model

    root = tmp_path_factory.mktemp("run")
    params = edited(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()),
                    {"trials.vgg_bn.widths": [4], "trials.vgg_bn.dense_units": 8})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "models").mkdir()
    save_model(_sharp_model(load_config(root / "params.yaml").trial_run("vgg_bn").model, seed=0),
               root / "models" / "vgg_bn.keras")
    data = root / "data" / "prepared"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("val", 40), ("test", 30)):
        np.savez(data / f"{split}.npz", images=rng.integers(0, 256, (count, 48, 48), dtype=np.uint8),
                 labels=rng.integers(0, 7, count).astype(np.int64))
    (data / "meta.json").write_text(json.dumps({"emotions": list(EMOTIONS)}))
    (root / "metrics" / "train" / "vgg_bn").mkdir(parents=True)
    prepare = {"images": {"found": 130},
               "counts": {"splits": {"val": {"total": 40}, "test": {"total": 30}},
                          "train_full": {e: 10 + i for i, e in enumerate(EMOTIONS)}},
               "dropped": {"duplicate_of_test": 3, "duplicate_in_train": 4, "decode_error": 1, "extension": 2}}
    (root / "metrics" / "prepare.json").write_text(json.dumps(prepare))
    (root / "metrics" / "train" / "vgg_bn" / "metrics.json").write_text(json.dumps({"epochs_run": 1}))
    (root / "metrics" / "train" / "vgg_bn" / "timing.json").write_text(json.dumps({"train_seconds": 1.0}))
    return root


def test_the_release_is_calibrated_on_validation_portable_and_measured_on_test(run_dir, tmp_path):
    from emotion_lib.evaluation import compute_metrics, predict_views
    from emotion_lib.models import load_model
    from emotion_lib.portable import load_copy
    from emotion_lib.release import main

    out = tmp_path / "release"
    main([str(run_dir), "--out", str(out), "--name", "tiny-v1", "--data", "fer2013-dev",
          "--command", "dvc exp run evaluate-vgg_bn -S x=1",
          "--cpu", "a test CPU"])
    figures = json.loads((out / "tiny-v1.json").read_text())
    for name in ("tiny-v1.keras", "tiny-v1.onnx"):
        assert figures["sha256"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert (out / "tiny-v1-confusion.png").is_file() and (out / "tiny-v1-reliability.png").is_file()
    views = {"flip": True, "shift": 3}  # the real params' evaluate.vgg_bn
    assert (figures["test_time_flip"], figures["test_time_shift"]) == (True, 3)

    trained = load_model(run_dir / "models" / "vgg_bn.keras")
    with np.load(run_dir / "data/prepared/val.npz") as val, np.load(run_dir / "data/prepared/test.npz") as test:
        temperature = calibration.fit_temperature(val["labels"], predict_views(trained, val["images"], **views))
        test_images, test_labels = test["images"], test["labels"]
    assert figures["temperature"] == pytest.approx(temperature, rel=1e-6) and temperature != pytest.approx(1.0)
    # The shipped model scores the temperature-scaled views of the trained one; its copy scores what it scores.
    shipped = average(predict_views(load_model(out / "tiny-v1.keras"), test_images, **views))
    np.testing.assert_allclose(
        shipped, calibration.scaled_views(predict_views(trained, test_images, **views), temperature), atol=1e-5)
    copy = load_copy(out / "tiny-v1.onnx").predict_probabilities(test_images, test_time_flip=True, test_time_shift=3)
    assert figures["onnx_max_difference"] == pytest.approx(float(np.abs(copy - shipped).max()), abs=1e-6)
    assert figures["onnx_max_difference"] < 1e-3
    metrics = compute_metrics(y_true=test_labels, probabilities=shipped, emotions=EMOTIONS, loss=None)
    assert figures["test"]["accuracy"] == metrics["accuracy"]
    # The folded temperature moves no label, views and all: the accuracy before it is the accuracy after.
    assert figures["test_before_temperature"]["accuracy"] == metrics["accuracy"]
    assert figures["test"]["macro_avg"] == metrics["macro_avg"]
    assert figures["test"]["ece"] == pytest.approx(calibration.expected_calibration_error(test_labels, shipped))
    assert figures["trained_on"]["prepare"]["dropped"]["duplicate_of_test"] == 3
    assert figures["members"][0]["params"]["widths"] == [4]
    card = (out / "MODEL_CARD.md").read_text()
    for stated in (f"{metrics['accuracy']:.4f}", f"{metrics['macro_avg']['f1']:.4f}", f"{temperature:.3f}",
                   *figures["sha256"].values(), "dvc exp run evaluate-vgg_bn -S x=1", "a test CPU",
                   "3 training copies of test images", "**training images only**", "tiny-v1-confusion.png",
                   "a development train split (100) and a development test split (30)", "The model trained on every",
                   "python -m emotion_lib.release . --name <name> --data fer2013`"):
        assert stated in card, stated
    for emotion in EMOTIONS:
        row = figures["test"]["per_class"][emotion]
        assert f"| {emotion} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} |" in card


def _another_member(run_dir: Path, root: Path, seed: int) -> Path:
    """``run_dir`` copied to ``root`` with another trial seed: same params but `seed`, same prepared split, another
    model."""
    from emotion_lib.config import load_config
    from emotion_lib.models import save_model

    shutil.copytree(run_dir, root)
    params = edited(yaml.safe_load((root / "params.yaml").read_text()), {"trials.vgg_bn.seed": seed})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    save_model(_sharp_model(load_config(root / "params.yaml").trial_run("vgg_bn").model, seed=seed),
               root / "models" / "vgg_bn.keras")
    return root


@pytest.fixture(scope="module")
def second_member(run_dir, tmp_path_factory) -> Path:
    """The same run with trial seed 1."""
    return _another_member(run_dir, tmp_path_factory.mktemp("member2") / "run", seed=1)


def test_several_runs_release_their_calibrated_ensemble(run_dir, second_member, tmp_path):
    from emotion_lib.evaluation import compute_metrics, predict_views
    from emotion_lib.models import load_model
    from emotion_lib.release import main

    out = tmp_path / "release"
    main([str(run_dir), str(second_member), "--out", str(out), "--name", "duo", "--data", "fer2013-dev",
          "--command", "first -S a=1",
          "--command", "second -S a=2", "--cpu", "a test CPU"])
    figures = json.loads((out / "duo.json").read_text())
    views = {"flip": True, "shift": 3}
    members = [load_model(run / "models" / "vgg_bn.keras") for run in (run_dir, second_member)]
    with np.load(run_dir / "data/prepared/val.npz") as val, np.load(run_dir / "data/prepared/test.npz") as test:
        val_images, val_labels, test_images, test_labels = val["images"], val["labels"], test["images"], test["labels"]

    def ensemble_views(images: np.ndarray) -> np.ndarray:
        """Per view, the softmax of the members' mean log-probabilities (= of their mean logits)."""
        logs = np.mean([np.log(predict_views(member, images, **views)) for member in members], axis=0)
        return np.exp(logs) / np.exp(logs).sum(axis=-1, keepdims=True)

    temperature = calibration.fit_temperature(val_labels, ensemble_views(val_images))
    assert figures["temperature"] == pytest.approx(temperature, rel=1e-3)
    shipped = average(predict_views(load_model(out / "duo.keras"), test_images, **views))
    np.testing.assert_allclose(shipped, calibration.scaled_views(ensemble_views(test_images), temperature), atol=1e-4)
    assert figures["test"]["accuracy"] == compute_metrics(y_true=test_labels, probabilities=shipped,
                                                          emotions=EMOTIONS, loss=None)["accuracy"]
    alone = [compute_metrics(y_true=test_labels, probabilities=average(predict_views(m, test_images, **views)),
                             emotions=EMOTIONS, loss=None) for m in members]
    assert [member["test_alone"]["accuracy"] for member in figures["members"]] == [a["accuracy"] for a in alone]
    assert [member["params"].get("seed") for member in figures["members"]] == [None, 1]
    assert figures["onnx_max_difference"] < 1e-3  # the portable copy carries the nested members too
    card = (out / "MODEL_CARD.md").read_text()
    for stated in ("An ensemble of 2 models", "trial seeds: the global seed and 1", "Each member trained on every",
                   "Member 2: `second -S a=2`", "`first -S a=1`; `second -S a=2`",
                   f"| member 2 alone | {alone[1]['accuracy']:.4f} |", f"{figures['test']['accuracy']:.4f}"):
        assert stated in card, stated


def test_members_of_different_splits_are_refused(run_dir, second_member, tmp_path, capsys):
    from emotion_lib.release import main

    other = tmp_path / "other"
    shutil.copytree(second_member, other)
    with np.load(other / "data/prepared/val.npz") as val:
        np.savez(other / "data/prepared/val.npz", images=val["images"][::-1], labels=val["labels"][::-1])
    with pytest.raises(SystemExit) as exit_info:
        main([str(run_dir), str(other), "--out", str(tmp_path / "out"), "--name", "mixed", "--data", "fer2013-dev"])
    assert exit_info.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{other}: its prepared val/test splits differ" in error
    assert not (tmp_path / "out").exists()


def test_the_card_describes_the_data_the_runs_held():
    """--data fer2013-dev (the default) says the test split was cut from the official training set and scored the
    recipe's choices; --data fer2013 names the official test set instead, its counts from prepare's."""
    from emotion_lib.predict import RELEASED_MODEL
    from emotion_lib.release import model_card

    figures = json.loads(RELEASED_MODEL.with_suffix(".json").read_text())
    prepare = figures["trained_on"]["prepare"]
    test = prepare["counts"]["splits"]["test"]["total"]
    train = prepare["images"]["found"] - test
    dev, official = (model_card({**figures, "data": data}) for data in ("fer2013-dev", "fer2013"))
    assert f"## Results on the FER-2013 dev test split ({figures['test']['test_size']:,} images)" in dev
    assert f"a development train split ({train:,}) and a development test split ({test:,})" in dev
    assert "so its figures here are optimistic" in dev
    assert f"## Results on the FER-2013 official test set ({figures['test']['test_size']:,} images)" in official
    assert f"its official training set ({train:,}\nimages)" in official
    assert "development" not in official


def test_a_release_must_say_what_data_its_runs_held(run_dir, tmp_path, capsys):
    """Without --data the card could call the official test set a development split: refused, nothing written."""
    from emotion_lib.release import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(run_dir), "--out", str(tmp_path / "out"), "--name", "unsaid"])
    assert exit_info.value.code == 2
    assert "--data" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def third_member(run_dir, tmp_path_factory) -> Path:
    """A third trial seed on the same split, trained after the first two were released."""
    root = _another_member(run_dir, tmp_path_factory.mktemp("member3") / "run", seed=2)
    (root / "metrics" / "train" / "vgg_bn" / "timing.json").write_text(json.dumps({"train_seconds": 120.0}))
    return root


def test_a_release_extended_by_a_member_is_the_release_of_all_three(run_dir, second_member, third_member, tmp_path):
    """--extend joins an earlier release's members with new runs: the model, temperature and figures are those of
    releasing the three runs at once, the earlier members' facts carried over from its JSON."""
    from emotion_lib.evaluation import predict_views
    from emotion_lib.models import load_model
    from emotion_lib.release import main

    main([str(run_dir), str(second_member), "--out", str(tmp_path / "v1"), "--name", "duo", "--data", "fer2013-dev",
          "--command", "first", "--command", "second", "--cpu", "CPU one"])
    duo = json.loads((tmp_path / "v1" / "duo.json").read_text())
    del duo["splits_sha256"]  # as a release made before splits were recorded: it is scored again instead
    (tmp_path / "v1" / "duo.json").write_text(json.dumps(duo))
    main([str(third_member), "--extend", str(tmp_path / "v1" / "duo.keras"), "--out", str(tmp_path / "v2"),
          "--name", "trio", "--data", "fer2013-dev", "--command", "third", "--cpu", "CPU two"])
    main([str(run_dir), str(second_member), str(third_member), "--out", str(tmp_path / "once"), "--name", "trio",
          "--data", "fer2013-dev"])
    grown, once = (json.loads((tmp_path / out / "trio.json").read_text()) for out in ("v2", "once"))
    with np.load(run_dir / "data/prepared/test.npz") as test:
        images = test["images"]
    views = {"flip": True, "shift": 3}
    np.testing.assert_allclose(*(average(predict_views(load_model(tmp_path / out / "trio.keras"), images, **views))
                                 for out in ("v2", "once")), atol=1e-5)
    assert grown["temperature"] == pytest.approx(once["temperature"], rel=1e-4)
    assert grown["test"]["accuracy"] == once["test"]["accuracy"]
    assert [m["test_alone"] for m in grown["members"]] == [*(m["test_alone"] for m in duo["members"]),
                                                           once["members"][2]["test_alone"]]
    assert [(m["command"], m["cpu"]) for m in grown["members"]] == [("first", "CPU one"), ("second", "CPU one"),
                                                                    ("third", "CPU two")]
    assert grown["extends"] == "duo" and grown["splits_sha256"] == once["splits_sha256"]
    # A release that recorded its split is extended on the hashes' word.
    main([str(third_member), "--extend", str(tmp_path / "v2" / "trio.keras"), "--out", str(tmp_path / "v3"),
          "--name", "quartet", "--data", "fer2013-dev"])
    assert len(json.loads((tmp_path / "v3" / "quartet.json").read_text())["members"]) == 4
    card = (tmp_path / "v2" / "MODEL_CARD.md").read_text()
    third_alone = once["members"][2]["test_alone"]["accuracy"]
    for stated in ("An ensemble of 3 models", "trial seeds: the global seed, 1 and 2", "on CPU one.", "on CPU two.",
                   "the earlier members joined from the release `duo` by `--extend`",
                   f"| member 3 alone | {third_alone:.4f} |"):
        assert stated in card, stated


def test_an_extension_on_another_split_or_of_an_altered_release_is_refused(run_dir, second_member, third_member,
                                                                          tmp_path, capsys):
    from emotion_lib.release import main

    main([str(run_dir), str(second_member), "--out", str(tmp_path / "v1"), "--name", "duo", "--data", "fer2013-dev"])
    other = tmp_path / "other"
    shutil.copytree(third_member, other)
    with np.load(other / "data/prepared/test.npz") as test:
        np.savez(other / "data/prepared/test.npz", images=test["images"][::-1], labels=test["labels"])
    # Without split hashes, the same test folder but another validation split (another global seed's) is refused:
    # here the earlier release's own answers as labels, on which it fits another temperature than its recorded one.
    from emotion_lib.evaluation import predict_views
    from emotion_lib.models import load_model

    unhashed = tmp_path / "unhashed"
    shutil.copytree(tmp_path / "v1", unhashed)
    figures = json.loads((unhashed / "duo.json").read_text())
    del figures["splits_sha256"]
    (unhashed / "duo.json").write_text(json.dumps(figures))
    other_val = tmp_path / "other_val"
    shutil.copytree(third_member, other_val)
    with np.load(other_val / "data/prepared/val.npz") as val:
        images = val["images"]
    answers = average(predict_views(load_model(unhashed / "duo.keras"), images, flip=True, shift=3)).argmax(axis=1)
    np.savez(other_val / "data/prepared/val.npz", images=images, labels=answers.astype(np.int64))
    altered = tmp_path / "altered"
    shutil.copytree(tmp_path / "v1", altered)
    with (altered / "duo.keras").open("ab") as keras_file:
        keras_file.write(b"\0")
    for run, release, message in ((other, tmp_path / "v1", "prepared val/test splits are not the ones"),
                                  (other_val, unhashed, "prepared val/test splits are not the ones"),
                                  (third_member, altered, "its SHA-256 is not the one its .json records")):
        with pytest.raises(SystemExit) as exit_info:
            main([str(run), "--extend", str(release / "duo.keras"), "--out", str(tmp_path / "out"), "--name", "x",
                  "--data", "fer2013-dev"])
        assert exit_info.value.code != 0
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
        assert not (tmp_path / "out").exists()
