"""End to end: the real `dvc` CLI on a shrunk copy of this repository.

Two session-scoped builds with the tiny params (tests/pipeline_utils.py): the
whole pipeline, and a repository where only ``synthesize`` and ``prepare`` ran,
for the scenarios that need one trial's chain at most.  Each test works on its
own copy, so the scenarios stay independent.  The tests of one build form one
class, which pytest-xdist's ``--dist loadscope`` (pyproject.toml) sends to one
worker, so each build happens once while other workers run the rest of the
suite; tests/conftest.py puts these classes first, so they start at once.
These are the slow tests (a few minutes on 2 cores), marked ``slow``.
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

from emotion_lib.config import load_config
from tests.pipeline_utils import (
    REPO_ROOT,
    changed_stages,
    commit_all,
    dvc,
    env,
    make_tiny_repo,
    read_json,
    run,
    set_params,
)

pytestmark = pytest.mark.slow

TRIALS = list(load_config(REPO_ROOT / "params.yaml").trials)


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="session")
def built_repo(tmp_path_factory) -> Path:
    repo = make_tiny_repo(tmp_path_factory.mktemp("built") / "repo")
    result = dvc("repro", cwd=repo)
    assert ran_stages(result.stdout) >= {"synthesize", "prepare", "weights", "summary"}
    # Quiet runs: DVC itself warns about nothing (it warned twice per stage about an empty dependency).
    dvc_warnings = [line for line in (result.stdout + result.stderr).splitlines()
                    if re.match(r"WARNING: '.*' is empty\.", line)]
    assert not dvc_warnings, dvc_warnings
    # ... and TensorFlow prints neither its start-up lines (7 per stage before) nor its retracing notice.
    from emotion_lib.quiet_tensorflow import STARTUP_NOISE

    noise = [line for line in (result.stdout + result.stderr).splitlines()
             if STARTUP_NOISE.match(line) or "triggered tf.function retracing" in line]
    assert not noise, noise
    commit_all(repo, "tiny results")
    return repo


@pytest.fixture(scope="session")
def prepared_repo(tmp_path_factory) -> Path:
    repo = make_tiny_repo(tmp_path_factory.mktemp("prepared") / "repo")
    assert ran_stages(dvc("repro", "prepare", cwd=repo).stdout) == {"synthesize", "prepare"}
    commit_all(repo, "tiny prepared data")
    return repo


def _copy(source: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(source, copy, symlinks=True)
    return copy


@pytest.fixture()
def repo(built_repo, tmp_path) -> Path:
    """A copy of the fully built tiny repository."""
    return _copy(built_repo, tmp_path)


@pytest.fixture()
def prepared(prepared_repo, tmp_path) -> Path:
    """A copy of the tiny repository with only synthesize and prepare run (and committed)."""
    return _copy(prepared_repo, tmp_path)


def read_json_text(text: str) -> dict:
    import json

    return json.loads(text or "{}")


# One stage of every kind of randomness: synthesis, split and undersampling, a trial with seeded augmentation,
# the BatchNorm recipe (full split, cosine schedule) and its test-time-flip evaluation, and the summary (it shows the
# training times, so it reruns after any training). The other trials share these code paths.
FORCED = ["synthesize", "prepare", "train-augmentation", "train-vgg_bn", "evaluate-vgg_bn", "summary"]


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


class TestBuiltPipeline:
    """Scenarios on a copy of the fully built tiny repository (one xdist scope: the build happens once)."""

    def test_repro_writes_every_output_and_a_second_repro_does_nothing(self, repo):
        test_size = read_json(repo / "metrics/prepare.json")["counts"]["splits"]["test"]["total"]
        for trial in TRIALS:
            assert (repo / "models" / f"{trial}.keras").is_file()
            assert read_json(repo / "metrics" / "details" / f"{trial}.json")["test_size"] == test_size
            assert (repo / "plots" / trial / "confusion.csv").is_file()
        # The baseline (10 epochs on the tiny data) must beat chance clearly: always answering the majority class
        # (happy) scores its share of the test set, 0.247, and a macro F1 of 0.057. Measured: 0.328 accuracy.
        baseline = read_json(repo / "metrics" / "details" / "baseline.json")
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
            ("emotion_lib/trials.py", {f"train-{t}" for t in TRIALS}),
            ("emotion_lib/models.py", {"weights"} | {f"train-{t}" for t in TRIALS} | {f"evaluate-{t}" for t in TRIALS}),
            ("emotion_lib/evaluation.py", {f"evaluate-{t}" for t in TRIALS}),
        ],
    )
    def test_editing_a_module_reruns_exactly_the_stages_that_import_it(self, repo, module, importers):
        with (repo / module).open("a") as handle:
            handle.write("# an edit\n")
        assert changed_stages(repo) == importers

    def test_dropout_change_invalidates_exactly_the_trials_holding_dropout(self, repo):
        # `dvc exp run -S model.dropout=0.3` reruns what `dvc status` lists after the same edit, then whatever
        # consumes their outputs: vgg16_finetune (its dvc.yaml dep is models/vgg16_features.keras), the
        # evaluations and the summary, as the real rerun in the next test shows for one trial.
        set_params(repo / "params.yaml", {"model.dropout": 0.3})
        assert changed_stages(repo) == {"train-dropout", "train-l2", "train-vgg16_features"}

    def test_one_trial_change_shows_in_metrics_diff_for_that_trial_only(self, repo):
        set_params(repo / "params.yaml", {"trials.l2.learning_rate": 0.01})
        result = dvc("repro", cwd=repo)
        assert ran_stages(result.stdout) == {"train-l2", "evaluate-l2", "summary"}
        diff = read_json_text(dvc("metrics", "diff", "--json", cwd=repo).stdout)
        changed = {path for path, metrics in diff.items()
                   if any(v.get("diff") not in (0, None) for v in metrics.values())}
        assert changed == {"metrics/l2.json"}  # the summary, prepare's counts and dvclive's logs are no metrics
        others = {f"metrics/{t}.json" for t in TRIALS if t != "l2"}
        # What a reviewer reads: the headline figures of the one trial that changed, a row each, a screen high.
        table = dvc("metrics", "diff", "--md", cwd=repo).stdout.strip().splitlines()
        assert len(table) <= 12 and all("metrics/l2.json" in row for row in table[2:]), table
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

    def test_a_new_trial_is_one_params_entry_then_one_command(self, repo):
        """The "Add a trial" page, as a researcher follows it: one entry under trials (and, for test-time views,
        one under evaluate), `python -m emotion_lib.pipeline`, `dvc repro`: the trial trains, evaluates, joins the
        summary and the plots; an experiment on one of its keys reruns exactly its stages."""
        import yaml

        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["trials"]["vgg_bn_small"] = {"backbone": "vgg_bn", "epochs": 1, "widths": [4], "dense_units": 8,
                                            "train_split": "full", "augmentation": True, "shift": 0.1}
        params["evaluate"]["vgg_bn_small"] = {"test_time_flip": True}
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        written = run([sys.executable, "-m", "emotion_lib.pipeline"], cwd=repo)
        assert "9 trials" in written.stdout and "next: dvc repro" in written.stdout
        assert ran_stages(dvc("repro", cwd=repo).stdout) == {"train-vgg_bn_small", "evaluate-vgg_bn_small", "summary"}
        metrics = read_json(repo / "metrics/details/vgg_bn_small.json")
        assert metrics["test_time_flip"] is True and metrics["backbone"] == "vgg_bn"
        summary = read_json(repo / "metrics/summary.json")
        assert summary["trial_order"][-1] == "vgg_bn_small"
        assert summary["trials"]["vgg_bn_small"]["accuracy"] == metrics["accuracy"]
        assert "| vgg_bn_small |" in (repo / "metrics/summary.md").read_text()
        dvc("plots", "show", cwd=repo)
        html = (repo / "dvc_plots/index.html").read_text()
        # DVC's page names each plot by its id with / and . as _.
        for plot in ("learning_curves_vgg_bn_small_loss", "learning_curves_vgg_bn_small_accuracy",
                     "plots_vgg_bn_small_confusion_csv", "plots_vgg_bn_small_roc_csv"):
            assert plot in html, plot
        commit_all(repo, "a new trial")
        result = dvc("exp", "run", "-S", "trials.vgg_bn_small.epochs=2", cwd=repo)
        assert ran_stages(result.stdout) == {"train-vgg_bn_small", "evaluate-vgg_bn_small", "summary"}

    def test_forced_rerun_gives_byte_identical_outputs(self, repo):
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
            assert path.read_bytes() == content, f"{path.relative_to(repo)} changed on a forced rerun"
        # Byte-identical models (emotion_lib.models.save_model) leave evaluate-augmentation, which was not forced,
        # up to date: a forced retraining reruns nothing downstream.
        assert changed_stages(repo) == set()

    def test_push_delete_pull_round_trip(self, repo, tmp_path):
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


class TestPreparedPipeline:
    """Scenarios that need at most one trial's chain, on a copy of the prepared tiny repository (one xdist scope)."""

    def test_val_fraction_experiment_reruns_prepare_and_changes_its_metrics(self, prepared):
        before = (prepared / "metrics/prepare.json").read_text()
        result = dvc("exp", "run", "prepare", "-S", "data.val_fraction=0.1", cwd=prepared)
        assert ran_stages(result.stdout) == {"prepare"}
        after = (prepared / "metrics/prepare.json").read_text()
        assert after != before

    def test_sigkill_mid_training_leaves_no_output_and_the_next_repro_recovers(self, prepared):
        import yaml

        repo, stage = prepared, "train-augmentation"
        dvc("repro", stage, cwd=repo)
        commit_all(repo, "augmentation trained")
        outputs = [repo / "models/augmentation.keras", repo / "metrics/train/augmentation/metrics.json"]
        before = {path: path.read_bytes() for path in outputs}
        epochs = yaml.safe_load((repo / "params.yaml").read_text())["trials"]["augmentation"]["epochs"]
        set_params(repo / "params.yaml", {"trials.augmentation.epochs": 500})
        log = repo / "train.log"
        with log.open("w") as handle:
            process = subprocess.Popen([sys.executable, "-m", "dvc", "repro", stage], cwd=repo, env=env(),
                                       stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        # Kill once training is under way: after the first epoch's progress line, with 499 epochs to go.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "/500 epochs" not in log.read_text() and process.poll() is None:
            time.sleep(0.5)
        time.sleep(2.0)
        assert process.poll() is None, f"training ended before it could be killed:\n{log.read_text()}"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for path in outputs:
            assert not path.exists(), f"{path.relative_to(repo)} left behind by a killed training"
        assert not list((repo / "models").glob(".augmentation*tmp*")), "a temporary file was left behind as output"
        assert stage in changed_stages(repo, stage)
        # Back to the committed params: the killed stage reruns and, training being deterministic and the saved model
        # free of timestamps, reproduces its committed outputs byte for byte.
        set_params(repo / "params.yaml", {"trials.augmentation.epochs": epochs})
        assert ran_stages(dvc("repro", stage, cwd=repo).stdout) == {stage}
        for path, content in before.items():
            assert path.read_bytes() == content, f"{path.relative_to(repo)} differs after the recovery"
        assert changed_stages(repo, stage) == set()

    def test_queued_sweep_runs_two_jobs_in_parallel_and_travels_to_a_fresh_clone(self, prepared, tmp_path):
        """The README's sweep (`dvc exp run --queue -S 'key=a,b'`, `dvc queue start --jobs 2`), then `dvc exp push`:
        a fresh clone elsewhere `dvc exp pull`s every run with its metrics and, through the DVC remote, its outputs.

        The sweep targets one trial's evaluation, so each run trains one tiny trial instead of the whole study.
        """
        repo = prepared
        origin = tmp_path / "origin.git"
        run(["git", "init", "-q", "--bare", str(origin)], cwd=tmp_path)
        dvc("remote", "add", "-d", "storage", str(tmp_path / "storage"), cwd=repo)
        commit_all(repo, "a shared DVC remote")
        run(["git", "remote", "add", "origin", str(origin)], cwd=repo)
        run(["git", "push", "-q", "origin", "HEAD:main"], cwd=repo)
        dvc("push", cwd=repo)  # the prepared data the experiments start from

        rates = [0.002, 0.003]
        dvc("exp", "run", "--queue", "evaluate-early_stopping",
            "-S", f"trials.early_stopping.learning_rate={','.join(map(str, rates))}", cwd=repo)
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
        assert sorted(exp["params"]["trials"]["early_stopping"]["learning_rate"] for exp in runs.values()) == rates
        # Each run has its own metrics (no run overwrote another's workspace).
        losses = [exp["metrics"]["metrics/early_stopping.json"]["loss"] for exp in runs.values()]
        assert len(set(losses)) == len(rates), losses

        dvc("exp", "push", "origin", *runs, cwd=repo)
        clone = tmp_path / "laptop"
        run(["git", "clone", "-q", "-b", "main", str(origin), str(clone)], cwd=tmp_path)
        dvc("exp", "pull", "origin", *runs, cwd=clone)
        pulled = {name: found["metrics"] for name, found in experiments(clone).items()}
        assert pulled == {name: found["metrics"] for name, found in runs.items()}
        # The outputs came through the DVC remote: on a branch of one run, its evaluation chain checks out complete
        # and up to date, with nothing to retrain. (`dvc exp apply` would also try the outputs of the stages no run
        # made, and fail.)
        name = next(iter(runs))
        dvc("exp", "branch", name, "swept", cwd=clone)
        run(["git", "checkout", "-q", "swept"], cwd=clone)
        dvc("checkout", "--with-deps", "evaluate-early_stopping", cwd=clone)
        assert (clone / "models" / "early_stopping.keras").is_file()
        assert changed_stages(clone, "--with-deps", "evaluate-early_stopping") == set()
        metrics = runs[name]["metrics"]["metrics/early_stopping.json"]
        assert read_json(clone / "metrics" / "early_stopping.json") == metrics
