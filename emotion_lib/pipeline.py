"""``dvc.yaml``, generated from ``params.yaml``: ``python -m emotion_lib.pipeline`` writes it, ``--check`` compares.

A trial is one entry under ``trials:`` in params.yaml.  Its stages differ from
trial to trial in what they read (a scratch trial reads ``model.*``, a VGG16
trial ``pretrained.*`` and the weights, a fine-tuning trial another trial's
model), and DVC cannot interpolate a list per ``foreach`` item, so the
pipeline is written out, one ``train-<trial>`` and one ``evaluate-<trial>``
stage per trial, each declaring by name:

- the params keys its stage reads (:func:`emotion_lib.config.stage_param_keys`,
  which the tests check against what the stage CLI really reads);
- the project code its command imports, transitively (:func:`code_closure`,
  from the import graph), so an edit reruns exactly the stages it touches;
- the data and models it reads.

It also writes each trial's learning curves into the top-level ``plots:`` and
feeds every trial to ``summary``.  The committed ``dvc.yaml`` is what this
module writes (a test fails otherwise), so edit params.yaml, run the command,
then ``dvc repro``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from emotion_lib.config import Config, TrialConfig, VGG16Trial, load_config, stage_param_keys

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("emotion_lib", "stages")
NOT_CACHED = {"cache": False}

HEADER = """\
# The study as a DVC pipeline, generated from params.yaml by `python -m emotion_lib.pipeline`: do not edit by
# hand; edit params.yaml (a trial is one entry under `trials:`), run that command, then `dvc repro`.
# synthesize -> prepare -> [weights] -> train-<trial> -> evaluate-<trial> -> summary. Each stage declares exactly
# the params keys it reads, the project code its command imports (transitively) and the data it reads, so DVC
# reruns what an edit touched and nothing else (tests/test_dvc_yaml.py checks all three).
"""


def stage_name(stage: str, trial: str) -> str:
    """A trial's stage as ``dvc.yaml`` names it and commands type it: ``train-vgg_bn``, ``evaluate-vgg_bn``."""
    return f"{stage}-{trial}"


# ------------------------------------------------------------------------------------------ the import graph


def _module_file(root: Path, module: str) -> Path | None:
    """The project file of a dotted module name (a package's __init__.py), or None outside the project."""
    if module.split(".")[0] not in CODE_DIRS:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (inside functions too), including importlib.import_module("x")."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            # `from emotion_lib import models` imports the submodule emotion_lib.models.
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            modules.add(node.args[0].value)
    return modules


def code_closure(root: Path, module: str) -> set[str]:
    """Root-relative paths of every project file that running ``python -m module`` imports, transitively."""
    seen: set[Path] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            path = _module_file(root, ".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                pending.extend(_imported_modules(path))
    return {path.relative_to(root).as_posix() for path in seen}


# ------------------------------------------------------------------------------------------ the stages


def _stage(root: Path, module: str, args: Sequence[str] = (), *, data: Sequence[str] = (),
           params: Sequence[str] = (), **sections: Any) -> dict[str, Any]:
    """One stage: its command, its code (the import closure of ``module``) and data deps, params and outputs."""
    # Data first: what a stage reads is what a reader looks for; the code list is long and alike across stages.
    stage: dict[str, Any] = {"cmd": " ".join(["python", "-m", module, *args]),
                             "deps": [*data, *sorted(code_closure(root, module))]}
    if params:
        stage["params"] = list(params)
    stage.update({key: value for key, value in sections.items() if value})
    return stage


def _data_stages(config: Config, root: Path) -> dict[str, dict]:
    stages = {
        "synthesize": _stage(root, "stages.synthesize", params=stage_param_keys(config, "synthesize"),
                             outs=["data/raw/synthetic"]),
        "prepare": _stage(
            root, "stages.prepare", data=["${data.raw_dir}"], params=stage_param_keys(config, "prepare"),
            # prepare's counts are details for the docs and the class-distribution plot, not metrics to compare.
            outs=["data/prepared", {"metrics/prepare.json": NOT_CACHED}],
            plots=[{"plots/prepare/class_distribution.csv": {
                       **NOT_CACHED, "template": "dvc_plots_template/class_distribution.json", "x": "emotion",
                       "y": "count", "title": "Training-set class distribution, before and after undersampling"}},
                   {"plots/prepare/class_distribution_before.png": NOT_CACHED},
                   {"plots/prepare/class_distribution_after.png": NOT_CACHED}]),
    }
    if any(_reads_weights(trial) for trial in config.trials.values()):
        # The VGG16 weights actually used (ImageNet, a user file, or seeded random when neither can be had) are an
        # artifact of their own, pinned in dvc.lock by hash.
        stages["weights"] = _stage(root, "stages.weights", params=stage_param_keys(config, "weights"),
                                   outs=["models/pretrained"])
    return stages


def _reads_weights(trial: TrialConfig) -> bool:
    return isinstance(trial, VGG16Trial)


def _train_stage(config: Config, trial: TrialConfig, root: Path) -> dict:
    data = ["data/prepared"]
    if trial.init_from is not None:
        data.append(f"models/{trial.init_from}.keras")
    if _reads_weights(trial):
        data.append("models/pretrained")
    live = f"metrics/train/{trial.name}"
    return _stage(
        root, "stages.train", [trial.name], data=data, params=stage_param_keys(config, "train", trial.name),
        # The per-epoch dvclive logs are drawn as learning curves by the top-level plots; the wall-clock figures
        # are kept out of the metrics, so that those are byte-identical across reruns.
        # dvclive's metrics.json (the last epoch's figures) is the evaluation's input, not a metric: the trial's
        # metrics are its evaluation's, metrics/<trial>.json.
        outs=[f"models/{trial.name}.keras", {f"{live}/plots": NOT_CACHED}, {f"{live}/timing.json": NOT_CACHED},
              {f"{live}/metrics.json": NOT_CACHED}])


def _evaluate_stage(config: Config, name: str, root: Path) -> dict:
    plots = f"plots/{name}"
    return _stage(
        root, "stages.evaluate", [name],
        data=[f"models/{name}.keras", f"metrics/train/{name}/metrics.json", "data/prepared"],
        params=stage_param_keys(config, "evaluate", name),
        metrics=[{f"metrics/{name}.json": NOT_CACHED}],
        outs=[{f"metrics/details/{name}.json": NOT_CACHED}, {f"{plots}/classification_report.txt": NOT_CACHED}],
        plots=[{f"{plots}/confusion.csv": {**NOT_CACHED, "template": "confusion_normalized", "x": "predicted",
                                           "y": "actual", "title": f"Confusion matrix, row-normalised ({name}, "
                                                                   "test split)"}},
               {f"{plots}/roc.csv": {**NOT_CACHED, "template": "dvc_plots_template/roc.json", "x": "fpr", "y": "tpr",
                                     "title": f"One-vs-rest ROC ({name}, test split)"}},
               {f"{plots}/calibration.csv": {**NOT_CACHED, "template": "linear", "x": "confidence", "y": "accuracy",
                                             "title": f"Reliability: accuracy per confidence bin ({name}, test "
                                                      "split; calibrated: the diagonal)"}},
               {f"{plots}/confusion.png": NOT_CACHED},
               {f"{plots}/roc.png": NOT_CACHED},
               {f"{plots}/reliability.png": NOT_CACHED}])


def _summary_stage(config: Config, root: Path) -> dict:
    names = list(config.trials)
    data = [*(f"metrics/details/{name}.json" for name in names),
            *(f"metrics/train/{name}/{file}" for file in ("metrics.json", "timing.json") for name in names)]
    return _stage(
        root, "stages.summary", data=data, params=stage_param_keys(config, "summary"),
        outs=[{"metrics/summary.md": NOT_CACHED}, {"metrics/summary.json": NOT_CACHED}],
        plots=[{"plots/summary/comparison.csv": {
                   **NOT_CACHED, "template": "dvc_plots_template/grouped_bar.json", "x": "trial", "y": "value",
                   "title": "Test accuracy and macro F1 per trial"}},
               {"plots/summary/comparison.png": NOT_CACHED}])


def _learning_curves(name: str) -> list[dict]:
    """Train and validation in one chart per metric, from the trial's dvclive logs."""
    logs = f"metrics/train/{name}/plots/metrics"
    return [{f"learning_curves/{name}/{metric}": {
        "title": f"{name} - {metric} per epoch (train vs validation)", "template": "linear", "x": "step",
        "x_label": "epoch", "y": {f"{logs}/train/{metric}.tsv": metric, f"{logs}/eval/{metric}.tsv": metric}}}
        for metric in ("loss", "accuracy")]


def pipeline(config: Config, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The whole ``dvc.yaml`` for ``config``, as a mapping."""
    stages = _data_stages(config, root)
    for trial in config.trials.values():
        stages[stage_name("train", trial.name)] = _train_stage(config, trial, root)
    for name in config.trials:
        stages[stage_name("evaluate", name)] = _evaluate_stage(config, name, root)
    stages["summary"] = _summary_stage(config, root)
    return {"stages": stages, "plots": [plot for name in config.trials for plot in _learning_curves(name)]}


class _Dumper(yaml.SafeDumper):
    """Writes every repeated value out in full (no YAML anchors: a reader sees each stage whole)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(config: Config, root: Path = REPO_ROOT) -> str:
    """``dvc.yaml``'s text for ``config``: lists of names in flow style, wrapped at 120 columns."""
    body = yaml.dump(pipeline(config, root), Dumper=_Dumper, sort_keys=False, width=116, default_flow_style=None)
    return HEADER + "\n" + body


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m emotion_lib.pipeline [--params F] [--check]``: write ``dvc.yaml`` from params.yaml, or compare."""
    from emotion_lib.cli import parser_for, run_stage

    def generate(args) -> None:
        config = load_config(args.params)
        target = Path(args.params).resolve().parent / "dvc.yaml"
        text = render(config, target.parent)
        current = target.read_text() if target.is_file() else None
        if args.check:
            if current != text:
                print(f"error: {target.name} is out of date with {Path(args.params).name}; run "
                      "`python -m emotion_lib.pipeline` to regenerate it", file=sys.stderr)
                sys.exit(1)
            print(f"{target.name}: up to date ({len(config.trials)} trials)")
            return
        if current != text:
            target.write_text(text)
        state = "unchanged" if current == text else "written"
        print(f"{target.name}: {state}, {len(config.trials)} trials ({', '.join(config.trials)}), "
              f"{len(pipeline(config, target.parent)['stages'])} stages; next: dvc repro")

    parser = parser_for("Write dvc.yaml from params.yaml: one train-<trial> and evaluate-<trial> stage per trial.")
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from what would be written")
    run_stage(generate, parser, argv)


if __name__ == "__main__":
    main()
