"""params.yaml loads into validated config objects; every bad value or typo is a one-line UserError."""

from __future__ import annotations

import dataclasses

import pytest

from emotion_lib.config import ScratchTrial, VGG16Trial, VggBnTrial, config_from_dict, load_config, stage_param_keys
from emotion_lib.errors import UserError
from tests.pipeline_utils import DELETE, edited


def test_real_params_load(repo_root):
    config = load_config(repo_root / "params.yaml")
    assert tuple(config.trials) == ("baseline", "early_stopping", "augmentation", "dropout", "l2", "vgg16_features",
                                    "vgg16_finetune", "vgg_bn")
    # One typed config per backbone, chosen by the trial's `backbone`.
    assert [type(trial) for trial in config.trials.values()] == [ScratchTrial] * 5 + [VGG16Trial] * 2 + [VggBnTrial]
    assert config.trial("vgg16_finetune").init_from == "vgg16_features"
    assert config.trial("early_stopping").early_stopping_patience == 5
    assert config.trial("baseline").early_stopping_patience == 0
    assert config.trial("l2").block_dropout == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("model.dropout", 1.0, "model.dropout"),
        ("model.dropout", -0.1, "model.dropout"),
        ("model.dropout", "half", "model.dropout"),
        ("trials.early_stopping.epochs", 0, "trials.early_stopping.epochs"),
        ("trials.early_stopping.early_stopping_patience", -1, "trials.early_stopping.early_stopping_patience"),
        ("train.batch_size", -8, "train.batch_size"),
        ("train.batch_size", 3.5, "train.batch_size"),
        ("trials.vgg16_finetune.learning_rate", 0, "trials.vgg16_finetune.learning_rate"),
        ("train.class_weight", "auto", "train.class_weight"),
        ("train.reduce_lr.factor", 2, "train.reduce_lr.factor"),
        ("data.val_fraction", 0, "data.val_fraction"),
        ("data.val_fraction", 1.5, "data.val_fraction"),
        ("data.emotions", ["angry", "contempt"], "data.emotions"),
        ("data.extensions", ["jpg", "exe"], "data.extensions"),
        ("data.extensions", [], "data.extensions"),
        ("data.source", "parquet", "data.source"),
        ("data.undersample", "yes", "data.undersample"),
        ("data.samples_per_class", 0, "data.samples_per_class"),
        ("model.image_size", 48, "model.image_size"),
        ("model.padding", "causal", "model.padding"),
        ("model.channels", 2, "model.channels"),
        ("pretrained.image_size", 16, "pretrained.image_size"),
        ("synthetic.scale", 0, "synthetic.scale"),
        ("trials.dropout.backbone", "resnet", "trials.dropout.backbone: got 'resnet'; expected one of scratch, vgg16"),
        ("trials.dropout.backbone", DELETE, "trials.dropout.backbone: got None; expected one of scratch"),
        ("trials.l2.block_dropout", -0.1, "trials.l2.block_dropout"),
        ("trials.l2.dense_units", -1, "trials.l2.dense_units"),
        ("trials.vgg16_features.dense_units", 0, "trials.vgg16_features.dense_units"),
        ("trials.vgg_bn.dropout", 1.0, "trials.vgg_bn.dropout"),
        ("trials.vgg16_features.unfreeze", ["block5"], "trials.vgg16_features.unfreeze: got ['block5']; expected "
                                                       "empty without init_from"),
        ("trials.vgg16_finetune.init_from", "baseline", "trials.vgg16_finetune.init_from: got 'baseline'; expected a "
                                                       "trial with the same backbone (vgg16)"),
        ("trials.vgg_bn.init_from", "baseline", "trials.vgg_bn.init_from: unknown key"),
        ("trials.vgg16_finetune.unfreeze", ["block9"], "trials.vgg16_finetune.unfreeze"),
        ("trials.vgg16_finetune.init_from", "nonexistent", "trials.vgg16_finetune.init_from"),
        ("trials.baseline.epochs", 0, "trials.baseline.epochs"),
        # Bounds that keep a typo from crashing later with a traceback (numpy's seed, TensorFlow's memory) or
        # from building a model that never finishes.
        ("seed", -5, "seed: got -5; expected an integer in [0, 2**32 - 1]"),
        ("seed", 2**32, "seed: got 4294967296"),
        ("trials.vgg_bn.seed", -1, "trials.vgg_bn.seed: got -1; expected an integer in [0, 2**32 - 1], or null"),
        ("trials.vgg_bn.seed", 1.5, "trials.vgg_bn.seed"),
        ("trials.l2.dense_units", 10**12, "trials.l2.dense_units"),
        ("trials.vgg_bn.convs_per_block", 10**9, "trials.vgg_bn.convs_per_block"),
        ("trials.vgg_bn.widths", [8] * 10, "trials.vgg_bn.widths"),
        ("trials.vgg_bn.widths", [10**9, 48], "trials.vgg_bn.widths"),
        ("model.image_size", 10000, "model.image_size: 10000 is out of range"),
        # Keys that would be silently ignored.
        ("trials.vgg_bn.schedule", "constant", "trials.vgg_bn.warmup_epochs: got 1; expected 0 with schedule constant"),
        ("trials.baseline.shift", 0.1, "trials.baseline.shift: only applies with augmentation on"),
        ("trials.early_stopping.erasing", 0.5, "trials.early_stopping.erasing: only applies"),
    ],
)
def test_bad_values_name_the_key(real_params, key, value, expected):
    with pytest.raises(UserError) as info:
        config_from_dict(edited(real_params, {key: value}))
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_a_trial_seed_reseeds_its_training_but_not_the_split(real_params):
    """Two trials that differ only in `seed` are the same run but for the seed their training uses; prepare's
    split reads the global seed alone (its declared keys hold no trial)."""
    assert not any(key.startswith("trials.") for key in stage_param_keys(config_from_dict(real_params), "prepare"))
    params = edited(real_params, {"trials.vgg_bn.seed": 7})
    params["trials"]["vgg_bn_twin"] = dict(real_params["trials"]["vgg_bn"])
    config = config_from_dict(params)
    assert config.trial_run("vgg_bn").seed == 7
    assert config.trial_run("vgg_bn_twin").seed == config.seed == real_params["seed"]
    # Everything but the seed is the same run.
    first, twin = config.trial_run("vgg_bn"), config.trial_run("vgg_bn_twin")
    assert dataclasses.replace(first, name="vgg_bn_twin", seed=twin.seed) == twin


def test_same_padding_allows_small_inputs(real_params):
    config = config_from_dict(edited(real_params, {"model.padding": "same", "model.image_size": 48}))
    assert config.model.image_size == 48


def test_valid_padding_error_suggests_same_padding(real_params):
    with pytest.raises(UserError, match="model.padding: same"):
        config_from_dict(edited(real_params, {"model.image_size": 64}))


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("model.dropuot", "model.dropout"),
        ("train.batch_sise", "train.batch_size"),
        ("data.val_fracton", "data.val_fraction"),
        ("trials.baseline.augmentaton", "trials.baseline.augmentation"),
        ("sed", "seed"),
    ],
)
def test_unknown_key_suggests_nearest(real_params, key, suggestion):
    with pytest.raises(UserError) as info:
        config_from_dict(edited(real_params, {key: 1}))
    assert f"{key}: unknown key" in str(info.value)
    assert f"did you mean '{suggestion}'" in str(info.value)


def test_unknown_trial_suggests_nearest(real_params):
    with pytest.raises(UserError, match="unknown trial 'basline'; did you mean 'baseline'"):
        config_from_dict(real_params).trial("basline")
    # Trials are open: any well-formed name is a new trial, and a key that names a trial must name one of them.
    with pytest.raises(UserError, match="trials.vgg16_finetune.init_from: got 'vgg16_featrues'; expected another "
                                        "trial's name"):
        config_from_dict(edited(real_params, {"trials.vgg16_finetune.init_from": "vgg16_featrues"}))


def test_a_csv_source_needs_a_csv_file_name(real_params):
    with pytest.raises(UserError, match="data.csv_file: got ''; expected the CSV's file name"):
        config_from_dict(edited(real_params, {"data.source": "csv", "data.csv_file": ""}))


@pytest.mark.parametrize("name", [1, True, "Big", "with-dash", "2nd"], ids=["int", "bool", "upper", "dash", "digit"])
def test_a_trial_name_must_name_stages_and_files(real_params, name):
    # `1:` and `yes:` as keys under trials are YAML's int and bool; a name is also a DVC stage and a file name.
    real_params["trials"][name] = {"backbone": "scratch", "epochs": 1}
    with pytest.raises(UserError, match=f"trials.{name}: not a trial name; use lowercase letters, digits and "):
        config_from_dict(real_params)


def test_finetune_cannot_redefine_inherited_architecture(real_params):
    with pytest.raises(UserError, match="trials.vgg16_finetune.augmentation"):
        config_from_dict(edited(real_params, {"trials.vgg16_finetune.augmentation": True}))


def test_missing_and_malformed_params_files(tmp_path):
    with pytest.raises(UserError, match="params file not found"):
        load_config(tmp_path / "params.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(broken)


def test_dropout_keys_only_for_trials_holding_dropout(repo_root):
    config = load_config(repo_root / "params.yaml")
    holding = {name for name in config.trials if "model.dropout" in stage_param_keys(config, "train", name)}
    assert holding == {"dropout", "l2", "vgg16_features"}


def test_the_config_command_checks_the_whole_file_in_one_line(tmp_path, repo_root):
    """`python -m emotion_lib.config` finds a typo in a key no stage declares, which `dvc repro` never reads."""
    import subprocess
    import sys

    import yaml

    from tests.pipeline_utils import env

    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    params["model"]["dropuot"] = 0.3
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def check(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "emotion_lib.config", "--params", str(tmp_path / name)],
                              cwd=repo_root, env=env(), capture_output=True, text=True, timeout=120)

    good, typo = check("good.yaml"), check("typo.yaml")
    assert good.returncode == 0 and "good.yaml: valid (8 trials: baseline" in good.stdout, good.stderr
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    lines = [line for line in typo.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: model.dropuot: "), typo.stderr
    assert "did you mean 'model.dropout'" in lines[0]
