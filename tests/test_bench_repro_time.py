"""bench/repro_time.py --one-epoch: every trial of the committed params trains one epoch, and the params stay valid."""

import yaml

from emotion_lib.config import load_config
from tests.pipeline_utils import REPO_ROOT, edited, load_bench_script


def test_one_epoch_overrides_train_every_committed_trial_for_one_epoch(tmp_path):
    committed = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    overrides = load_bench_script("repro_time").one_epoch_overrides(committed)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(edited(committed, overrides), sort_keys=False))
    # load_config validates: an epoch count of 1 beside a warm-up of 1 epoch would be refused here.
    config = load_config(params_path)
    runs = [config.trial_run(name) for name in committed["trials"]]
    assert [run.epochs for run in runs] == [1] * len(committed["trials"])
    assert any(trial.get("warmup_epochs", 0) > 0 for trial in committed["trials"].values())
    assert all(run.warmup_epochs == 0 for run in runs)
