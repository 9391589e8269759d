"""dvc.yaml is what ``python -m emotion_lib.pipeline`` writes, and declares exactly what each stage reads.

A stage that reads a key it does not declare goes stale silently when that key
changes; a stage that declares a key it does not read reruns for nothing.  The
declared keys come from DVC's own parser; the keys read come from running each
stage CLI on a recording proxy of the config with the library call replaced by
a stub.  The same holds for code (the import graph) and, for a pipeline with a
trial added, for every generated stage.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from emotion_lib import config as config_module
from emotion_lib.config import load_config, stage_param_keys
from emotion_lib.pipeline import code_closure, render
from tests.pipeline_utils import REPO_ROOT

TRIALS = list(load_config(REPO_ROOT / "params.yaml").trials)


@pytest.fixture(scope="module")
def declared(repo_root) -> dict[str, list[str]]:
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        result = {}
        for stage in repo.index.stages:
            keys = []
            for dep in stage.deps:
                if hasattr(dep, "params") and Path(dep.def_path).name == "params.yaml":
                    keys.extend(dep.params)
            result[stage.addressing] = sorted(set(keys))
    return result


def _lookup(tree: Mapping, dotted: str):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def test_every_stage_expected(declared):
    expected = {"synthesize", "prepare", "weights", "summary"}
    expected |= {f"train-{t}" for t in TRIALS} | {f"evaluate-{t}" for t in TRIALS}
    assert set(declared) == expected


def test_every_declared_key_exists(declared, repo_root):
    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    for stage, keys in declared.items():
        for key in keys:
            try:
                _lookup(params, key)
            except KeyError:
                pytest.fail(f"{stage} declares {key}, which params.yaml lacks")


def _split(address: str) -> tuple[str, str | None]:
    stage, _, trial = address.partition("-")
    return stage, trial or None


def test_declared_keys_match_the_config_contract(declared, repo_root):
    config = load_config(repo_root / "params.yaml")
    for address, keys in declared.items():
        stage, trial = _split(address)
        assert keys == stage_param_keys(config, stage, trial), address


class _Recorder:
    """Wraps a config object and records the dotted path of every leaf value read through it."""

    def __init__(self, target, path: str, reads: set[str]):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_reads", reads)

    def _wrap(self, value, path: str):
        if dataclasses.is_dataclass(value) or isinstance(value, Mapping):
            return _Recorder(value, path, self._reads)
        self._reads.add(path)
        return value

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if isinstance(value, types.MethodType):
            # Run the method with this proxy as `self`, so what it reads is recorded too.
            return types.MethodType(value.__func__, self)
        return self._wrap(value, f"{self._path}.{name}" if self._path else name)

    def __getitem__(self, key):
        return self._wrap(self._target[key], f"{self._path}.{key}")

    def __iter__(self):
        self._reads.add(self._path)
        return iter(self._target)

    def __contains__(self, key):
        return key in self._target

    def get(self, key, default=None):
        # A mapping's .get reads that key's path, present or not (an absent key is read as its default).
        if key in self._target:
            return self[key]
        self._reads.add(f"{self._path}.{key}")
        return default

    def __len__(self):
        return len(self._target)


# The library entry point each stage calls, replaced by a stub that swallows its arguments.
STAGE_CALLS = {
    "synthesize": ("emotion_lib.synthetic", "synthesize_dataset", {"n_images": 0}),
    "prepare": ("emotion_lib.prepare", "prepare_dataset", {
        "images": {"found": 0}, "dropped": {"total": 0, "duplicate_of_test": 0, "duplicate_in_train": 0,
                                            "undersampled": 0},
        "counts": {"splits": {split: {"total": 0} for split in ("train", "val", "test")}},
    }),
    "weights": ("emotion_lib.pretrained", "resolve_vgg16_weights", {"source": "random"}),
    "train": ("emotion_lib.trials", "run_trial", {}),
    "evaluate": ("emotion_lib.evaluation", "evaluate_model", {"accuracy": 0.0, "macro_avg": {"f1": 0.0},
                                                              "test_size": 0}),
    "summary": ("emotion_lib.summary", "summarize", {}),
}


def _stub_returning(result):
    """A stand-in for a library entry point: it reads every field of each typed config it is given (as the library
    does with, e.g., ``prepare_dataset(config.data, ...)``) and returns ``result``."""

    def stub(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            if isinstance(value, _Recorder) and dataclasses.is_dataclass(value._target):
                for field in dataclasses.fields(value._target):
                    getattr(value, field.name)
        return result

    return stub


def _covered(read: str, declared_keys: list[str]) -> bool:
    return any(read == key or read.startswith(key + ".") for key in declared_keys)


@pytest.mark.parametrize("address", ["synthesize", "prepare", "weights", "summary",
                                     *(f"{stage}-{t}" for stage in ("train", "evaluate") for t in TRIALS)])
def test_stage_reads_only_declared_keys(address, declared, repo_root, monkeypatch, tmp_path):
    stage, trial = _split(address)
    if stage == "evaluate":
        # The stage reads its trial's training summary from the working directory before it evaluates.
        (tmp_path / "metrics" / "train" / trial).mkdir(parents=True)
        (tmp_path / "metrics" / "train" / trial / "metrics.json").write_text("{}")
        monkeypatch.chdir(tmp_path)
    module_name, function_name, result = STAGE_CALLS[stage]
    importlib.import_module(module_name)
    monkeypatch.setattr(f"{module_name}.{function_name}", _stub_returning(result))
    reads: set[str] = set()
    real = load_config(repo_root / "params.yaml")
    monkeypatch.setattr(config_module, "load_config", lambda path="params.yaml": _Recorder(real, "", reads))
    stage_module = importlib.import_module(f"stages.{stage}")
    args = types.SimpleNamespace(params=str(repo_root / "params.yaml"), trial=trial)
    stage_module.main(args)
    assert reads, "the recorder saw no reads; the test is not observing the stage"
    # A trial's name is its key under trials, not a value in params.yaml.
    reads.discard(f"trials.{trial}.name")
    undeclared = sorted(read for read in reads if not _covered(read, declared[address]))
    assert not undeclared, f"{address} reads undeclared params keys: {undeclared}"
    unread = sorted(key for key in declared[address] if not any(_covered(read, [key]) for read in reads))
    assert not unread, f"{address} declares params keys it never reads: {unread}"


# ------------------------------------------------------------------------------------------ code dependencies

CODE_DIRS = ("emotion_lib", "stages")


def _declared_code(stage) -> set[str]:
    return {
        Path(dep.def_path).as_posix()
        for dep in stage.deps
        if not hasattr(dep, "params") and Path(dep.def_path).as_posix().startswith(tuple(f"{d}/" for d in CODE_DIRS))
    }


@pytest.fixture(scope="module")
def stages_by_address(repo_root):
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        yield {stage.addressing: stage for stage in repo.index.stages}


def test_every_stage_declares_exactly_the_code_it_imports(stages_by_address, repo_root):
    problems = []
    for address, stage in sorted(stages_by_address.items()):
        command = stage.cmd.split()
        assert command[:2] == ["python", "-m"], f"{address}: cmd must be `python -m stages.<name> ...`"
        expected = code_closure(repo_root, command[2])
        declared = _declared_code(stage)
        if declared != expected:
            problems.append(f"{address}: missing {sorted(expected - declared)}, extra {sorted(declared - expected)}")
    assert not problems, "dvc.yaml deps differ from the import graph:\n" + "\n".join(problems)


def test_import_graph_follows_function_level_and_importlib_imports(tmp_path):
    """The closure sees imports inside functions and importlib.import_module calls, not only top-level ones."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "emotion_lib").mkdir()
    (tmp_path / "stages" / "__init__.py").write_text("")
    (tmp_path / "emotion_lib" / "__init__.py").write_text("")
    (tmp_path / "stages" / "go.py").write_text("def main():\n    from emotion_lib.a import f\n")
    (tmp_path / "emotion_lib" / "a.py").write_text("import importlib\nm = importlib.import_module('emotion_lib.b')\n")
    (tmp_path / "emotion_lib" / "b.py").write_text("from emotion_lib import c\nimport numpy\n")
    (tmp_path / "emotion_lib" / "c.py").write_text("")
    (tmp_path / "emotion_lib" / "unused.py").write_text("")
    assert code_closure(tmp_path, "stages.go") == {
        "stages/__init__.py", "stages/go.py", "emotion_lib/__init__.py", "emotion_lib/a.py", "emotion_lib/b.py",
        "emotion_lib/c.py",
    }


# ------------------------------------------------------------------------------------------ generation


def test_committed_dvc_yaml_is_what_the_generator_writes(repo_root):
    """Edit params.yaml, run `python -m emotion_lib.pipeline`: a dvc.yaml edited by hand, or not regenerated after
    a trial was added or removed, fails here."""
    expected = render(load_config(repo_root / "params.yaml"), repo_root)
    assert (repo_root / "dvc.yaml").read_text() == expected, "run `python -m emotion_lib.pipeline`"


def test_generated_stages_of_an_added_trial_declare_what_they_read(repo_root, tmp_path, monkeypatch):
    """A trial of each backbone added to params.yaml gets stages whose params are exactly what the stage CLI reads
    (the recorder above, on the generated pipeline) and whose data deps are the models and weights it loads."""
    import shutil

    from dvc.repo import Repo

    params = yaml.safe_load((repo_root / "params.yaml").read_text())
    params["trials"]["scratch_more"] = {"backbone": "scratch", "flatten_dropout": True, "batch_size": 16}
    params["trials"]["vgg16_more"] = {"backbone": "vgg16", "init_from": "vgg16_finetune", "unfreeze": ["block4"]}
    params["trials"]["bn_more"] = {"backbone": "vgg_bn", "widths": [8], "class_weight": "sqrt"}
    params["evaluate"]["bn_more"] = {"test_time_shift": 2}
    for name in ("emotion_lib", "stages"):
        shutil.copytree(repo_root / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    config = load_config(tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text(render(config, tmp_path))
    Repo.init(str(tmp_path), no_scm=True)
    with Repo(str(tmp_path)) as repo:
        stages = {stage.name: stage for stage in repo.index.stages}
    assert _data_deps(stages["train-vgg16_more"]) == ["data/prepared", "models/vgg16_finetune.keras",
                                                      "models/pretrained"]
    assert _data_deps(stages["train-bn_more"]) == ["data/prepared"]
    assert _data_deps(stages["evaluate-bn_more"]) == ["models/bn_more.keras", "metrics/train/bn_more/metrics.json",
                                                      "data/prepared"]
    for address in ("train-scratch_more", "train-vgg16_more", "train-bn_more", "evaluate-bn_more"):
        stage, trial = _split(address)
        declared = sorted({key for dep in stages[address].deps if hasattr(dep, "params") for key in dep.params})
        assert declared == stage_param_keys(config, stage, trial), address
        assert _declared_code(stages[address]) == code_closure(tmp_path, stages[address].cmd.split()[2]), address
        reads = _reads_of(stage, trial, config, tmp_path, monkeypatch)
        assert sorted(r for r in reads if not _covered(r, declared)) == [], address
        assert [key for key in declared if not any(_covered(r, [key]) for r in reads)] == [], address
    # Its own batch size replaces train.batch_size: the trial no longer reads, nor reruns on, the shared one.
    assert "train.batch_size" not in stage_param_keys(config, "train", "scratch_more")
    assert "model.dropout" in stage_param_keys(config, "train", "scratch_more")
    assert "summary" in stages and "metrics/details/bn_more.json" in {dep.def_path for dep in stages["summary"].deps}


def _data_deps(stage) -> list[str]:
    return [dep.def_path for dep in stage.deps
            if not hasattr(dep, "params") and not dep.def_path.startswith(tuple(f"{d}/" for d in CODE_DIRS))]


def _reads_of(stage: str, trial: str, config, root: Path, monkeypatch) -> set[str]:
    """The params keys ``stages.<stage>`` reads for ``trial`` (the recorder of test_stage_reads_only_declared_keys)."""
    module_name, function_name, result = STAGE_CALLS[stage]
    importlib.import_module(module_name)
    monkeypatch.setattr(f"{module_name}.{function_name}", _stub_returning(result))
    reads: set[str] = set()
    monkeypatch.setattr(config_module, "load_config", lambda path="params.yaml": _Recorder(config, "", reads))
    if stage == "evaluate":
        (root / "metrics" / "train" / trial).mkdir(parents=True, exist_ok=True)
        (root / "metrics" / "train" / trial / "metrics.json").write_text("{}")
        monkeypatch.chdir(root)
    importlib.import_module(f"stages.{stage}").main(types.SimpleNamespace(params="params.yaml", trial=trial))
    reads.discard(f"trials.{trial}.name")
    return reads


def test_no_dependency_is_an_empty_file(stages_by_address, repo_root):
    """DVC warns "'<path>' is empty." for an empty dependency, twice per stage: a default run must not print that
    (an empty stages/__init__.py did, 40 times)."""
    empty = sorted({dep.def_path for stage in stages_by_address.values() for dep in stage.deps
                    if not hasattr(dep, "params") and (repo_root / dep.def_path).is_file()
                    and (repo_root / dep.def_path).stat().st_size == 0})
    assert not empty, f"empty dependencies (give each a docstring): {empty}"
