"""End to end: the real `dvc` CLI on a shrunk copy of this repository.

One session-scoped build runs the whole pipeline once with the tiny params
(tests/pipeline_utils.py); each test then works on its own copy, so the
scenarios stay independent.  These are the slow tests (a few minutes on 2
cores), marked ``slow``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emotion_lib.config import TRIAL_NAMES
from tests.pipeline_utils import changed_stages, commit_all, dvc, env, make_tiny_repo, read_json, run, set_params

pytestmark = pytest.mark.slow

TRIALS = list(TRIAL_NAMES)


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory) -> Path:
    repo = make_tiny_repo(tmp_path_factory.mktemp("built") / "repo")
    result = dvc("repro", cwd=repo)
    assert ran_stages(result.stdout) >= {"synthesize", "prepare", "weights", "summary"}
    commit_all(repo, "tiny results")
    return repo


@pytest.fixture()
def repo(built_repo, tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(built_repo, copy, symlinks=True)
    return copy


def test_repro_writes_every_output_and_a_second_repro_does_nothing(repo):
    test_size = read_json(repo / "metrics/prepare.json")["counts"]["after_undersampling"]["test"]["total"]
    for trial in TRIALS:
        assert (repo / "models" / f"{trial}.keras").is_file()
        assert read_json(repo / "metrics" / f"{trial}.json")["test_size"] == test_size
        assert (repo / "plots" / trial / "confusion.csv").is_file()
    # The baseline (10 epochs on the tiny data) must beat chance clearly: always answering the majority class
    # (happy) scores its share of the test set, 0.247, and a macro F1 of 0.057. Measured: 0.328 accuracy.
    baseline = read_json(repo / "metrics" / "baseline.json")
    majority = max(v["support"] for v in baseline["per_class"].values()) / baseline["test_size"]
    assert baseline["accuracy"] >= majority + 0.04, baseline["accuracy"]
    assert baseline["macro_avg"]["f1"] >= 0.15, baseline["macro_avg"]["f1"]
    assert read_json(repo / "metrics/train/vgg16_features/metrics.json")["backbone_source"] == "random"
    assert "metrics/summary.json" in run(["git", "ls-files"], cwd=repo).stdout
    assert changed_stages(repo) == set()
    second = dvc("repro", "prepare", cwd=repo)
    assert ran_stages(second.stdout) == set()


@pytest.mark.parametrize(
    ("module", "importers"),
    [
        ("emotion_lib/trials.py", {f"train@{t}" for t in TRIALS}),
        ("emotion_lib/models.py", {"weights"} | {f"train@{t}" for t in TRIALS} | {f"evaluate@{t}" for t in TRIALS}),
        ("emotion_lib/evaluation.py", {f"evaluate@{t}" for t in TRIALS}),
    ],
)
def test_editing_a_module_reruns_exactly_the_stages_that_import_it(repo, module, importers):
    with (repo / module).open("a") as handle:
        handle.write("# an edit\n")
    assert changed_stages(repo) == importers


def test_val_fraction_experiment_reruns_prepare_and_changes_its_metrics(repo):
    before = (repo / "metrics/prepare.json").read_text()
    result = dvc("exp", "run", "prepare", "-S", "data.val_fraction=0.1", cwd=repo)
    assert "prepare" in ran_stages(result.stdout)
    after = (repo / "metrics/prepare.json").read_text()
    assert after != before


def test_dropout_experiment_reruns_exactly_the_trials_holding_dropout(repo):
    result = dvc("exp", "run", "-S", "model.dropout=0.3", cwd=repo)
    holding = ["dropout", "l2", "vgg16_features", "vgg16_finetune"]
    expected = {f"train@{t}" for t in holding} | {f"evaluate@{t}" for t in holding} | {"summary"}
    assert ran_stages(result.stdout) == expected


def test_one_trial_change_shows_in_metrics_diff_for_that_trial_only(repo):
    set_params(repo / "params.yaml", {"trials.l2.learning_rate": 0.01})
    result = dvc("repro", cwd=repo)
    assert ran_stages(result.stdout) == {"train@l2", "evaluate@l2", "summary"}
    diff = read_json_text(dvc("metrics", "diff", "--json", cwd=repo).stdout)
    changed = {path for path, metrics in diff.items() if any(v.get("diff") not in (0, None) for v in metrics.values())}
    assert "metrics/l2.json" in changed
    others = {f"metrics/{t}.json" for t in TRIALS if t != "l2"}
    assert not changed & others
    dvc("plots", "show", cwd=repo)
    html = (repo / "dvc_plots/index.html").read_text()
    for trial in TRIALS:
        assert trial in html
    # Metrics live in git, so a fresh clone with no DVC cache diffs two commits without pulling anything.
    commit_all(repo, "l2 with a larger learning rate")
    clone = repo.parent / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], cwd=repo.parent)
    assert not (clone / ".dvc/cache").exists()
    cloned = read_json_text(dvc("metrics", "diff", "HEAD~1", "HEAD", "--json", cwd=clone).stdout)
    assert "metrics/l2.json" in cloned
    assert not set(cloned) & others


def read_json_text(text: str) -> dict:
    import json

    return json.loads(text or "{}")


# One stage of every kind of randomness: synthesis, split and undersampling, a trial with seeded augmentation,
# the BatchNorm recipe (full split, cosine schedule, test-time flip), the evaluations and the summary. The other
# trials share these code paths; forcing all of them would triple the cost of this test.
FORCED = ["synthesize", "prepare", "train@augmentation", "evaluate@augmentation", "train@vgg_bn", "evaluate@vgg_bn",
          "summary"]


def test_forced_rerun_gives_byte_identical_outputs(repo):
    # Every metrics file DVC tracks, the plot data beside them, and the models and arrays of the forced stages;
    # timing.json holds wall-clock times on purpose.
    tracked = [p for p in (repo / "metrics").rglob("*.json") if p.name != "timing.json"]
    tracked += list((repo / "plots").rglob("*.csv"))
    tracked += [repo / "models/augmentation.keras", repo / "models/vgg_bn.keras"]
    tracked += list((repo / "data/prepared").glob("*.npz"))
    assert len(tracked) > 20
    before = {p: p.read_bytes() for p in sorted(tracked)}
    result = dvc("repro", "-f", "-s", *FORCED, cwd=repo)
    assert ran_stages(result.stdout) == set(FORCED)
    for path, content in before.items():
        if path.suffix != ".keras":
            assert path.read_bytes() == content, f"{path.relative_to(repo)} changed on a forced rerun"
    # A .keras file is a zip holding the save time; the weights inside must be identical.
    for trial in ("augmentation", "vgg_bn"):
        old, new = weights_of(before[repo / f"models/{trial}.keras"]), weights_of(
            (repo / f"models/{trial}.keras").read_bytes())
        assert old.keys() == new.keys() and len(old) > 4, trial
        for name in old:
            assert (old[name] == new[name]).all(), f"{trial}: {name} differs on a forced rerun"
    assert changed_stages(repo) == set()


def weights_of(keras_zip: bytes) -> dict:
    """Every array in the model.weights.h5 of a .keras file, by its HDF5 path."""
    import io
    import zipfile

    import h5py

    arrays = {}
    with zipfile.ZipFile(io.BytesIO(keras_zip)) as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            weights.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                               if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_push_delete_pull_round_trip(repo, tmp_path):
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "local", str(remote), cwd=repo)
    dvc("push", cwd=repo)
    shutil.rmtree(repo / ".dvc/cache")
    for path in ["data/raw/synthetic", "data/prepared", "models"]:
        shutil.rmtree(repo / path)
    pulled = dvc("pull", cwd=repo)
    assert "failed" not in pulled.stdout.lower()
    assert changed_stages(repo) == set()
    expected = (repo / "metrics/baseline.json").read_bytes()
    run([sys.executable, "-m", "stages.evaluate", "baseline"], cwd=repo)
    assert (repo / "metrics/baseline.json").read_bytes() == expected


def test_sigkill_mid_training_leaves_no_output_and_the_next_repro_recovers(repo):
    import yaml

    epochs = yaml.safe_load((repo / "params.yaml").read_text())["trials"]["baseline"]["epochs"]
    set_params(repo / "params.yaml", {"trials.baseline.epochs": 500})
    log = repo / "train.log"
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train@baseline"], cwd=repo, env=env(),
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    # Kill once training is under way: after the first epoch's progress line, with 499 epochs to go.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "/500 epochs" not in log.read_text() and process.poll() is None:
        time.sleep(0.5)
    time.sleep(2.0)
    assert process.poll() is None, f"training ended before it could be killed:\n{log.read_text()}"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (repo / "models/baseline.keras").exists()
    assert not (repo / "metrics/train/baseline/metrics.json").exists()
    assert not list((repo / "models").glob(".baseline*tmp*")), "a temporary file was left behind as output"
    assert "train@baseline" in changed_stages(repo)
    # Back to the committed params: only the killed trial's chain reruns (its evaluation because a .keras file
    # records its save time, the summary because it shows training times), and, training being deterministic,
    # it reproduces the committed metrics.
    before = (repo / "metrics/baseline.json").read_bytes()
    set_params(repo / "params.yaml", {"trials.baseline.epochs": epochs})
    result = dvc("repro", cwd=repo)
    assert ran_stages(result.stdout) == {"train@baseline", "evaluate@baseline", "summary"}
    assert (repo / "metrics/baseline.json").read_bytes() == before
    assert (repo / "models/baseline.keras").is_file()
    assert changed_stages(repo) == set()


def experiments(repo: Path) -> dict[str, dict]:
    """`dvc exp show --json` as {experiment name: {"params": params.yaml data, "metrics": {path: data}}}."""
    table = read_json_text(dvc("exp", "show", "--json", cwd=repo).stdout)
    found = {}
    for baseline in table if isinstance(table, list) else []:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                data = rev.get("data") or {}
                found[rev.get("name")] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": {path: value.get("data", {}) for path, value in data.get("metrics", {}).items()},
                }
    return found


def test_queued_sweep_runs_two_jobs_in_parallel_and_every_run_shows_up(repo):
    """The README's sweep: `dvc exp run --queue -S 'key=a,b'`, then `dvc queue start --jobs 2`."""
    rates = [0.002, 0.003]
    dvc("exp", "run", "--queue", "-S", f"trials.baseline.learning_rate={','.join(map(str, rates))}", cwd=repo)
    dvc("queue", "start", "--jobs", "2", cwd=repo)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        status = dvc("queue", "status", cwd=repo).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            break
        time.sleep(3)
    dvc("queue", "stop", cwd=repo, check=False)
    assert status.count("Success") == len(rates) and "Failed" not in status, status
    runs = experiments(repo)
    assert sorted(exp["params"]["trials"]["baseline"]["learning_rate"] for exp in runs.values()) == rates
    # Each run has its own metrics (no run overwrote another's workspace).
    losses = [exp["metrics"]["metrics/baseline.json"]["loss"] for exp in runs.values()]
    assert len(set(losses)) == len(rates), losses


def test_experiments_travel_through_a_git_remote_and_a_dvc_remote(repo, tmp_path):
    """Run an experiment here, `dvc exp push`; a fresh clone elsewhere `dvc exp pull`s it with its outputs."""
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], cwd=tmp_path)
    dvc("remote", "add", "-d", "storage", str(tmp_path / "storage"), cwd=repo)
    commit_all(repo, "a shared DVC remote")
    run(["git", "remote", "add", "origin", str(origin)], cwd=repo)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=repo)
    dvc("exp", "run", "-n", "faster-baseline", "-S", "trials.baseline.learning_rate=0.002", cwd=repo)
    local = experiments(repo)["faster-baseline"]["metrics"]["metrics/baseline.json"]
    dvc("exp", "push", "origin", "faster-baseline", cwd=repo)

    clone = tmp_path / "laptop"
    run(["git", "clone", "-q", "-b", "main", str(origin), str(clone)], cwd=tmp_path)
    dvc("exp", "pull", "origin", "faster-baseline", cwd=clone)
    pulled = experiments(clone)
    assert pulled["faster-baseline"]["metrics"]["metrics/baseline.json"] == local
    assert pulled["faster-baseline"]["params"]["trials"]["baseline"]["learning_rate"] == 0.002
    # The experiment's outputs came through the DVC remote: applying it restores its model without retraining.
    dvc("exp", "apply", "faster-baseline", cwd=clone)
    assert (clone / "models" / "baseline.keras").is_file()
    assert read_json(clone / "metrics" / "baseline.json") == local
