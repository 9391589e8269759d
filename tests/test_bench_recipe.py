"""bench/fer_recipe.py: its ``-S`` / ``--run`` overrides reach the vgg_bn trial that it trains and times."""

import yaml

from tests.pipeline_utils import REPO_ROOT, load_bench_script


def test_parse_run_keeps_commas_inside_a_list_value():
    parse_run = load_bench_script("fer_recipe").parse_run
    name, overrides = parse_run("thin:trials.vgg_bn.widths=[16,32,64,128],trials.vgg_bn.epochs=44")
    assert name == "thin"
    assert overrides == {"trials.vgg_bn.widths": [16, 32, 64, 128], "trials.vgg_bn.epochs": 44}


def test_recipe_run_applies_the_overrides_that_precision_speed_times():
    script = load_bench_script("fer_recipe")
    committed = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["trials"]["vgg_bn"]
    run = script.recipe_run(script.parse_run("speed:trials.vgg_bn.widths=[16,32,64,128]")[1])
    assert list(committed["widths"]) != [16, 32, 64, 128]
    assert list(run.model.widths) == [16, 32, 64, 128]
    # Everything not overridden stays as committed.
    default = script.recipe_run()
    assert list(default.model.widths) == list(committed["widths"])
    assert (run.epochs, run.learning_rate, run.optimizer) == (default.epochs, default.learning_rate, default.optimizer)


def test_precision_speed_times_auto_as_the_policy_training_resolves_it_to():
    import keras

    from emotion_lib.precision import cpu_flags, resolve_precision

    policies = dict(load_bench_script("fer_recipe").dtype_policies(["auto", "mixed_float16"]))
    # `auto` is not a Keras policy (setting it raised ValueError): it is timed as what it means on this CPU.
    assert policies["auto"] == resolve_precision("auto", gpus=0, flags=cpu_flags())
    assert policies["mixed_float16"] == "mixed_float16"
    for policy in policies.values():
        keras.DTypePolicy(policy)


def test_precision_speed_times_the_trials_batch_size(capsys):
    # It timed batches of 64 whatever `-S trials.vgg_bn.batch_size` said.
    script = load_bench_script("fer_recipe")
    script.precision_speed(["float32"], {"trials.vgg_bn.batch_size": 8, "trials.vgg_bn.widths": [4, 8]}, steps=1)
    assert "batch 8," in capsys.readouterr().out


def _batch_norm_classes() -> set[str]:
    import keras

    from emotion_lib.architecture import VggBnSpec
    from emotion_lib.models import build_model

    model = build_model(VggBnSpec(image_size=16, widths=(4,), convs_per_block=1, dense_units=0, dropout=0.0),
                        num_classes=7, seed=0)
    return {type(layer).__name__ for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}


def test_precision_speed_times_keras_batch_norm_beside_the_fused_one(capsys):
    script = load_bench_script("fer_recipe")
    built = {}
    for kind in script.BATCH_NORMS:
        with script.batch_norm_layer(kind):
            built[kind] = _batch_norm_classes()
    assert built == {"fused": {"FusedBatchNormalization"}, "keras": {"BatchNormalization"}}
    assert _batch_norm_classes() == {"FusedBatchNormalization"}  # the swap ends with its block
    speeds = script.precision_speed(["float32"], {"trials.vgg_bn.batch_size": 8, "trials.vgg_bn.widths": [4, 8]},
                                    steps=1, batch_norms=("fused", "keras"))
    assert set(speeds) == {"float32/fused", "float32/keras"}
    assert "keras batch norm" in capsys.readouterr().out
