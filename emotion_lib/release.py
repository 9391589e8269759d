"""Package a trial trained on FER-2013 as the project's released model: calibrated, portable, measured.

Usage::

    python -m emotion_lib.release RUN_DIR [RUN_DIR ...] --name vgg_bn-fer2013-v5 --data fer2013-dev|fer2013
                                  [--trial vgg_bn] [--out release] [--command "dvc exp run ..." ...] [--cpu "..."]
                                  [--extend release/<earlier>.keras]

``RUN_DIR`` is a copy of this repository where ``dvc exp run`` prepared FER-2013's training images and trained
and evaluated the trial (``models/<trial>.keras``, ``data/prepared``, ``metrics/``, ``params.yaml``).  Several
run dirs, trained with the same global seed (so on the same split) and different ``trials.<trial>.seed``, release
their ensemble: one model scoring the softmax of the members' mean logits
(:func:`emotion_lib.models.ensemble_model`); ``--extend`` adds an earlier ensemble release's members to theirs, so a
release grows by a member without retraining the others.  Writes to ``--out``:

* ``<name>.keras`` - the trained model (or ensemble) with the temperature fitted on the validation split folded into its
  classifier (:func:`emotion_lib.models.fold_temperature`), so its scores are calibrated probabilities,
  computing in float32;
* ``<name>.onnx`` - its portable copy (:mod:`emotion_lib.export`), which predict runs without TensorFlow;
* ``<name>.json`` - every figure the model card states: the dev-test scores of the shipped model (with the
  trial's evaluated test-time views), per-class precision/recall/F1, calibration before and after, the copy's
  largest score difference from the Keras model over every test face, what the model was trained on, its params,
  and each file's SHA-256;
* ``<name>-confusion.png`` and ``<name>-reliability.png``;
* ``MODEL_CARD.md`` - the model card, written from those figures (:func:`model_card`), so it states what was
  measured and nothing else.

The test split only measures: nothing here is fitted on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from emotion_lib import calibration, plotting
from emotion_lib.atomic import read_json, write_json, write_text
from emotion_lib.cli import Parser, run_stage
from emotion_lib.errors import UserError
from emotion_lib.views import average

# What the run dirs' data was (``--data``): how the card describes the training images and names the test split.
DATA = {
    "fer2013-dev": "FER-2013 dev test split",
    "fer2013": "FER-2013 official test set",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_release(run_dirs: Sequence[Path], out_dir: Path, *, name: str, data: str, trial: str = "vgg_bn",
                 commands: Sequence[str] = (), cpu: str = "", extend: Path | None = None) -> dict:
    """Write the release files of ``trial`` trained in ``run_dirs`` into ``out_dir``; return the figures written.

    One run dir releases its model; several release their ensemble (:func:`emotion_lib.models.ensemble_model`),
    which needs them to have prepared the same split (members differing in ``trials.<trial>.seed``), so that the
    validation images that fit the temperature are outside every member's training images.  ``data`` (a key of
    :data:`DATA`) says what their ``data.raw_dir`` held: FER-2013's development split or the official FER-2013.
    ``extend``, an earlier ensemble release's ``.keras`` (its ``.json`` beside it), adds its members to the run dirs'
    (:func:`emotion_lib.models.ensemble_members`): the new release is the ensemble of all, as if each had been given
    as a run dir, its earlier members' facts carried over from that JSON. The run dirs must hold the split it was
    released on (checked against the split hashes it recorded, or, for a release without them, by scoring it again).
    """
    if data not in DATA:
        raise UserError(f"--data {data!r}: use one of {', '.join(DATA)}")
    from emotion_lib.config import load_config
    from emotion_lib.evaluation import compute_metrics, load_checked_split, predict_views
    from emotion_lib.inputs import read_emotions
    from emotion_lib.models import ensemble_model, fold_temperature, load_model, save_model

    run_dirs, out_dir = [Path(run_dir) for run_dir in run_dirs], Path(out_dir)
    splits = _check_same_split(run_dirs)
    config = load_config(run_dirs[0] / "params.yaml")
    views = config.views(trial)
    data_dir = run_dirs[0] / "data" / "prepared"
    emotions = read_emotions(data_dir)
    members = _float32_members(run_dirs, trial)
    scored = {"batch_size": 64, "flip": views.test_time_flip, "shift": views.test_time_shift, "progress": False}
    val_images, val_labels = load_checked_split(data_dir, "val", emotions)
    test_images, test_labels = load_checked_split(data_dir, "test", emotions)

    def scores(probabilities: np.ndarray) -> dict:
        return compute_metrics(y_true=test_labels, probabilities=probabilities, emotions=emotions, loss=None)

    earlier_facts, earlier = [], []
    if extend is not None:
        earlier_facts, earlier = _earlier_members(
            Path(extend), run_dirs[0], splits, trial, data, views, emotions, len(val_labels),
            score=lambda model: scores(average(predict_views(model, test_images, **scored))),
            temperature_of=lambda model: calibration.fit_temperature(
                val_labels, predict_views(model, val_images, **scored)))
    every = [*earlier, *members]
    model = every[0] if len(every) == 1 else ensemble_model(every)
    temperature = calibration.fit_temperature(val_labels, predict_views(model, val_images, **scored))
    unscaled = average(predict_views(model, test_images, **scored))
    # In an ensemble, each new member's own scores (the earlier members' come with their facts).
    alone = [None] * len(members) if len(every) == 1 else [
        _alone(scores(average(predict_views(member, test_images, **scored)))) for member in members]
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_path = out_dir / f"{name}.keras"
    save_model(fold_temperature(model, temperature), keras_path)
    shipped = average(predict_views(load_model(keras_path), test_images, **scored))
    metrics = scores(shipped)
    onnx_path, parity = _portable_copy(keras_path, test_images, shipped, emotions, config, views)
    _figures_png(out_dir, name, test_labels, unscaled, shipped, emotions, temperature, DATA[data])
    figures = {
        "name": name, "trial": trial, "emotions": list(emotions), "data": data,
        "test": {**metrics, "ece": calibration.expected_calibration_error(test_labels, shipped)},
        "test_before_temperature": {
            "accuracy": scores(unscaled)["accuracy"],
            "ece": calibration.expected_calibration_error(test_labels, unscaled)},
        "temperature": temperature, "test_time_flip": views.test_time_flip, "test_time_shift": views.test_time_shift,
        "onnx_max_difference": parity, "validation_images": int(len(val_labels)),
        "trained_on": {"prepare": read_json(run_dirs[0] / "metrics" / "prepare.json", "prepare metrics",
                                            "run `dvc exp run` first")},
        "members": [*earlier_facts, *(
            _member_facts(run_dir, trial, command, cpu, score)
            for run_dir, command, score in zip(run_dirs, _padded(commands, len(run_dirs)), alone, strict=True))],
        "splits_sha256": splits,
        "sha256": {path.name: sha256(path) for path in (keras_path, onnx_path)},
        "cpu": cpu,
    }
    if extend is not None:
        figures["extends"] = Path(extend).stem
    write_json(out_dir / f"{name}.json", figures)
    write_text(out_dir / "MODEL_CARD.md", model_card(figures))
    return figures


def _float32_members(run_dirs: Sequence[Path], trial: str) -> list[Any]:
    """Each run dir's trained trial, computing in float32 as its portable copy does (a laptop without native
    bfloat16 would emulate it)."""
    from emotion_lib.export import float32_model
    from emotion_lib.models import load_model

    return [float32_model(load_model(run_dir / "models" / f"{trial}.keras",
                                     remedy=f"train it with `dvc exp run evaluate-{trial}` in {run_dir}"))
            for run_dir in run_dirs]


def _padded(commands: Sequence[str], count: int) -> list[str]:
    if len(commands) > count:
        raise UserError(f"{len(commands)} --command for {count} RUN_DIR: give one per run, in the same order")
    return [*commands, *[""] * (count - len(commands))]


def _split_digests(run_dir: Path) -> dict[str, str]:
    return {split: sha256(run_dir / "data" / "prepared" / f"{split}.npz") for split in ("val", "test")
            if (run_dir / "data" / "prepared" / f"{split}.npz").is_file()}


def _check_same_split(run_dirs: Sequence[Path]) -> dict[str, str]:
    """Refuse members whose prepared splits differ (their validation images could be another's training images);
    return the splits' SHA-256."""
    first = _split_digests(run_dirs[0])
    for run_dir in run_dirs[1:]:
        if _split_digests(run_dir) != first:
            raise UserError(f"{run_dir}: its prepared val/test splits differ from {run_dirs[0]}'s; ensemble members "
                            f"must differ only in trials.<trial>.seed (the split follows the global seed)")
    return first


def _earlier_members(extend: Path, run_dir: Path, splits: dict[str, str], trial: str, data: str, views: Any,
                     emotions: Sequence[str], validation_images: int, *, score: Any,
                     temperature_of: Any) -> tuple[list[dict], list[Any]]:
    """An earlier release's members (its temperature taken out) and their facts, once it is shown to share the split.

    ``splits`` are the SHA-256 of the run dirs' (``run_dir`` first) prepared splits; ``score`` scores a model on
    their test split and ``temperature_of`` fits a model's temperature on their
    validation split (:func:`make_release`'s views). A release that recorded no split hashes must score there exactly
    what its JSON says it did, and its members must fit the same temperature on that validation split: a test folder
    is fixed, but the validation images follow the global seed.
    """
    from emotion_lib.models import ensemble_members, fold_temperature, load_model

    figures = read_json(extend.with_suffix(".json"), "release figures", "give the .keras of a release made by "
                        "python -m emotion_lib.release, its .json beside it")
    said = {"trial": trial, "data": data, "emotions": list(emotions), "test_time_flip": views.test_time_flip,
            "test_time_shift": views.test_time_shift}
    for key, value in said.items():
        if figures.get(key) != value:
            raise UserError(f"--extend {extend}: its {key} is {figures.get(key)!r}, these runs' is {value!r}; "
                            f"extend a release of the same trial, data and test-time views")
    if sha256(extend) != figures["sha256"].get(extend.name):
        raise UserError(f"--extend {extend}: its SHA-256 is not the one its .json records; restore the released file")
    if any("test_alone" not in fact for fact in figures["members"]):
        raise UserError(f"--extend {extend}: its .json lacks its members' own test figures (test_alone); "
                        f"restore the release's own .json")
    model = load_model(extend, remedy="give the .keras of an earlier release")
    recorded = figures.get("splits_sha256")
    shared = (recorded == splits if recorded else
              figures["validation_images"] == validation_images and
              round(score(model)["accuracy"], 6) == round(figures["test"]["accuracy"], 6))
    unfolded = fold_temperature(model, 1.0 / figures["temperature"])
    if shared and not recorded:
        shared = abs(temperature_of(unfolded) / figures["temperature"] - 1) < 1e-3
    if not shared:
        raise UserError(f"--extend {extend}: {run_dir}'s prepared val/test splits are not the ones it was released "
                        f"on; train the new members with the same data.raw_dir and global seed")
    members = ensemble_members(unfolded)
    facts = [{**fact, "cpu": fact.get("cpu") or figures.get("cpu") or "an unrecorded CPU"}
             for fact in figures["members"]]
    if len(facts) != len(members):
        raise UserError(f"--extend {extend}: its .json describes {len(facts)} members, the model holds "
                        f"{len(members)}; restore the release's own files")
    return facts, members


def _alone(metrics: dict) -> dict:
    return {"accuracy": metrics["accuracy"], "balanced_accuracy": metrics["balanced_accuracy"],
            "macro_f1": metrics["macro_avg"]["f1"]}


def _member_facts(run_dir: Path, trial: str, command: str, cpu: str, alone: dict | None) -> dict:
    """One member's params, how it trained (run_dir's metrics), on which CPU and, in an ensemble, its own dev-test
    scores (:func:`_alone`)."""
    train = read_json(run_dir / "metrics" / "train" / trial / "metrics.json", "training summary",
                      f"run `dvc exp run train-{trial}` first")
    timing = read_json(run_dir / "metrics" / "train" / trial / "timing.json", "timing file",
                       f"run `dvc exp run train-{trial}` first")
    keys = ("epochs_run", "saved_epoch", "precision", "onednn", "train_split", "trainable_params")
    member = {"command": command, "params": yaml.safe_load((run_dir / "params.yaml").read_text())["trials"][trial],
              "training": {key: train.get(key) for key in keys}, "timing": timing, "cpu": cpu}
    if alone is not None:
        member["test_alone"] = alone
    return member


def _portable_copy(keras_path: Path, images: np.ndarray, shipped: np.ndarray, emotions: Sequence[str], config: Any,
                   views: Any) -> tuple[Path, float]:
    """Export the shipped model and measure the copy against it on every test face, its views joined."""
    from emotion_lib.export import export_copy
    from emotion_lib.portable import load_copy

    onnx_path = keras_path.with_suffix(".onnx")
    export_copy(keras_path, onnx_path, emotions=emotions, image_size=config.data.image_size,
                test_time_flip=views.test_time_flip, test_time_shift=views.test_time_shift)
    copy = load_copy(onnx_path).predict_probabilities(images, test_time_flip=views.test_time_flip,
                                                      test_time_shift=views.test_time_shift)
    return onnx_path, float(np.abs(copy - shipped).max())


def _figures_png(out_dir: Path, name: str, labels: np.ndarray, unscaled: np.ndarray, shipped: np.ndarray,
                 emotions: Sequence[str], temperature: float, test_split: str) -> None:
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(labels, shipped.argmax(axis=1), labels=list(range(len(emotions))))
    accuracy = float(np.mean(shipped.argmax(axis=1) == labels))
    plotting.save_png(plotting.confusion_heatmap(counts, list(emotions), title=f"{name}: {test_split}, "
                                                 f"row-normalised (accuracy {accuracy:.4f})"),
                      out_dir / f"{name}-confusion.png")
    curves = {f"as trained (ECE {calibration.expected_calibration_error(labels, unscaled):.3f})":
              calibration.top_label(labels, unscaled),
              f"released, temperature {temperature:.2f} folded in "
              f"(ECE {calibration.expected_calibration_error(labels, shipped):.3f})":
              calibration.top_label(labels, shipped)}
    plotting.save_png(plotting.reliability_diagram(curves, title=f"{name}: reliability, {test_split}",
                                                   n_bins=calibration.N_BINS), out_dir / f"{name}-reliability.png")


def model_card(figures: dict) -> str:
    """The model card (Hugging Face's sections) of a release, every number from ``figures``."""
    return "\n".join(section(figures) for section in (_card_intro, _card_data, _card_training, _card_results,
                                                      _card_calibration, _card_limits, _card_reproduce, _card_files))


def _card_intro(figures: dict) -> str:
    name, emotions, parity = figures["name"], figures["emotions"], figures["onnx_max_difference"]
    members = figures["members"]
    if len(members) == 1:
        what = f"The `{figures['trial']}` trial of this project (a VGG-style CNN with batch normalisation,\n48x48 " \
               "grayscale input), trained"
    else:
        named = ["the global seed" if member["params"].get("seed") is None else str(member["params"]["seed"])
                 for member in members]
        seeds = ", ".join(named[:-1]) + " and " + named[-1]
        what = (f"An ensemble of {len(members)} models of this project's `{figures['trial']}` trial (a VGG-style CNN "
                f"with batch\nnormalisation, 48x48 grayscale input; trial seeds: {seeds}), one model whose scores are "
                f"the softmax of the\nmembers' mean logits, each member trained")
    return f"""# Model card: {name}

A facial-expression classifier: given a face, one probability for each of {len(emotions)} emotions
({", ".join(emotions)}). {what} by the project's own pipeline on FER-2013's training images, with its scores
calibrated. `python -m emotion_lib.predict photo.jpg` uses it by default.

| file | what it is |
|---|---|
| `{name}.onnx` | the portable copy predict uses by default: onnxruntime, no TensorFlow |
| `{name}.keras` | the Keras model (float32); the copy's scores are within {parity:.1g} of its own on every test face |
| `{name}.json` | every figure on this card |
"""


def _card_data(figures: dict) -> str:
    prepare = figures["trained_on"]["prepare"]
    dropped, emotions = prepare["dropped"], figures["emotions"]
    counts = " / ".join(f"{e} {prepare['counts']['train_full'][e]:,}" for e in emotions)
    found, test = prepare["images"]["found"], prepare["counts"]["splits"]["test"]["total"]
    train = found - test
    if figures["data"] == "fer2013-dev":
        source = f"""**training images only**: the
official training set's {found:,} images, re-split by the project's data provider (85 % / 15 %, stratified
per class, with a fixed seed) into a development train split ({train:,}) and a development test split ({test:,}),
which measures this model and trained nothing. It did score the earlier runs that chose the recipe
([docs/vgg_bn-recipe.md](../docs/vgg_bn-recipe.md)) and this release's size (members were added while it scored
below a target), so its figures here are optimistic. FER-2013's official test set, which none of this saw, is where
an independent check would measure it (not part of this card)."""
    else:
        source = f"""its official training set ({train:,}
images); the official test set ({test:,} images) measures this model and trained nothing."""
    return f"""## Training data

FER-2013 (Goodfellow et al., "Challenges in Representation Learning", ICML 2013), {source}

`prepare` removed exact duplicate images ({dropped["duplicate_of_test"]} training copies of test images,
{dropped["duplicate_in_train"]} repeats within training) and {dropped["decode_error"] + dropped["extension"]} files
that were not usable images. {"Each member" if len(figures["members"]) > 1 else "The model"} trained on every \
remaining training image outside the validation split
({counts}); the validation split ({prepare["counts"]["splits"]["val"]["total"]} images, balanced) chose nothing but
the temperature below. Why this trial, these epochs and this many members:
[docs/release.md](../docs/release.md#how-the-released-model-was-chosen).
"""


def _card_training(figures: dict) -> str:
    members = figures["members"]
    lines = []
    for index, member in enumerate(members, start=1):
        training = member["training"]
        minutes = member["timing"].get("train_seconds", 0) / 60
        heading = f"Member {index}: " if len(members) > 1 else ""
        lines.append(f"""{heading}`{member["command"]}`

Params (`trials.{figures["trial"]}`): `{json.dumps(member["params"], sort_keys=True)}`.
{training["epochs_run"]} epochs ({training["precision"]}), {minutes:.1f} minutes of training on \
{member.get("cpu") or figures["cpu"]}.
""")
    if len(members) > 1:
        lines.append("Each member trained in its own clone with the same global `seed`, so on the same split; "
                     "`python -m emotion_lib.release` joined them and fitted the temperature" +
                     (f" (the earlier members joined from the release `{figures['extends']}` by `--extend`, their "
                      "facts carried over from its JSON; how this release grew: [docs/release.md]"
                      "(../docs/release.md#how-the-released-model-was-chosen))" if figures.get("extends") else "") +
                     ". Training minutes are as measured on the CPU named; docs/release.md says which runs shared "
                     "it with other work.\n")
    return "## Training\n\n" + "\n".join(lines)


def _card_results(figures: dict) -> str:
    test, emotions = figures["test"], figures["emotions"]
    views = "the face and its mirror image" if figures["test_time_flip"] else "the face"
    if figures["test_time_shift"]:
        views += f", each also moved {figures['test_time_shift']} px up, down, left and right"
    scored = (f"the softmax of the mean logits of {views}" if figures["test_time_flip"] or figures["test_time_shift"]
              else "the model's probabilities for the face")
    headline = " | ".join(f"{value:.4f}" for value in (test["accuracy"], test["balanced_accuracy"],
                                                       test["macro_avg"]["f1"], test["macro_auc"], test["ece"]))
    rows = "\n".join(f"| {e} | {test['per_class'][e]['precision']:.3f} | {test['per_class'][e]['recall']:.3f} | "
                     f"{test['per_class'][e]['f1']:.3f} | {test['per_class'][e]['support']} |" for e in emotions)
    return f"""## Results on the {DATA[figures["data"]]} ({test["test_size"]:,} images)

Scored as predict scores by default: {scored}.

| accuracy | balanced accuracy | macro F1 | macro AUC | ECE (15 bins) |
|---:|---:|---:|---:|---:|
| {headline} |

| emotion | precision | recall | F1 | images |
|---|---:|---:|---:|---:|
{rows}

{_member_rows(figures)}![confusion matrix]({figures["name"]}-confusion.png)
"""


def _member_rows(figures: dict) -> str:
    """In an ensemble, each member's own figures, scored the same way (before any temperature)."""
    members = figures["members"]
    if len(members) == 1:
        return ""
    rows = "\n".join(f"| member {index} alone | {m['test_alone']['accuracy']:.4f} | "
                     f"{m['test_alone']['balanced_accuracy']:.4f} | {m['test_alone']['macro_f1']:.4f} |"
                     for index, m in enumerate(members, start=1))
    test = figures["test"]
    return f"""| model | accuracy | balanced accuracy | macro F1 |
|---|---:|---:|---:|
{rows}
| the ensemble (shipped) | {test["accuracy"]:.4f} | {test["balanced_accuracy"]:.4f} | {test["macro_avg"]["f1"]:.4f} |

"""


def _card_calibration(figures: dict) -> str:
    test, before = figures["test"], figures["test_before_temperature"]
    return f"""## Calibration

A temperature of {figures["temperature"]:.3f}, fitted on the validation split, is folded into the classifier:
the top-label expected calibration error on the test split went from {before["ece"]:.4f} to {test["ece"]:.4f}
(accuracy {before["accuracy"]:.4f} before and {test["accuracy"]:.4f} after: the temperature changes no label).

![reliability diagram]({figures["name"]}-reliability.png)
"""


def _card_limits(figures: dict) -> str:
    test, emotions = figures["test"], figures["emotions"]
    fewest = min(emotions, key=lambda e: figures["trained_on"]["prepare"]["counts"]["train_full"][e])
    weakest = min(emotions, key=lambda e: test["per_class"][e]["f1"])
    return f"""## Intended use and limits

- Research and teaching on facial expression recognition, under FER-2013's terms (research use).
- Input: one roughly frontal face, cropped and converted to 48x48 grayscale (predict's face detector does this for
  photos). Profile faces, occlusions, very small or blurred faces, and expressions outside the seven are out of
  scope; the model still answers, with a probability that means less there.
- FER-2013's labels are noisy (its authors estimate human accuracy on it at about 65 %) and its faces come from
  web image searches: its demographics are not documented and not balanced, so accuracy differs across groups in
  ways not measured here. `{fewest}` has the fewest training images; `{weakest}` the lowest F1
  ({test["per_class"][weakest]["f1"]:.3f}).
- It recognises expressions, not felt emotions; do not use it to make decisions about people.
"""


def _card_reproduce(figures: dict) -> str:
    commands = [member["command"].replace("<fer2013-dev>", "<fer2013>") for member in figures["members"]]
    if len(commands) == 1:
        where = "in a clone of this repository"
        how = f"`{commands[0]}`, then\n`python -m emotion_lib.release . --name <name> --data fer2013`"
    else:
        where = "in one clone of this repository per member"
        how = ("; ".join(f"`{command}`" for command in commands) +
               ", then\n`python -m emotion_lib.release <clone 1> <clone 2> ... --name <name> --data fer2013`")
    return f"""## Train the same on the full official FER-2013

With FER-2013 from Kaggle in its folder layout (`train/`, `test/`), {where}:
{how} writes these files and this card. FER-2013's official test split then measures it.
"""


def _card_files(figures: dict) -> str:
    hashes = "\n".join(f"| `{file}` | `{digest}` |" for file, digest in figures["sha256"].items())
    return f"""## Files

| file | SHA-256 |
|---|---|
{hashes}
"""


def main(argv: Sequence[str] | None = None) -> None:
    """The command line; exits 0, or 2 with one ``error:`` line."""
    parser = Parser(prog="python -m emotion_lib.release", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="a repository copy where the trial trained; several release their ensemble")
    parser.add_argument("--trial", default="vgg_bn")
    parser.add_argument("--name", required=True, help="the release's file names, versioned: vgg_bn-fer2013-v5")
    parser.add_argument("--out", type=Path, default=Path("release"))
    parser.add_argument("--command", action="append", default=[], dest="commands",
                        help="the command that trained a run, for the model card (one per RUN_DIR, in order)")
    parser.add_argument("--cpu", default="", help="the CPU the runs trained on, for the model card")
    parser.add_argument("--extend", type=Path, metavar="RELEASE.keras",
                        help="an earlier ensemble release (its .json beside it) whose members join the runs'; the "
                        "runs must hold the split it was released on")
    parser.add_argument("--data", required=True, choices=tuple(DATA),
                        help="what the runs' data.raw_dir held: FER-2013's development split (its train/ and a "
                        "test/ cut from the official training set) or the official FER-2013")

    def run(args: argparse.Namespace) -> None:
        for run_dir in args.run_dirs:
            if not (run_dir / "params.yaml").is_file():
                raise UserError(f"{run_dir}: no params.yaml; give the repository copy the trial trained in")
        figures = make_release(args.run_dirs, args.out, trial=args.trial, name=args.name, commands=args.commands,
                               cpu=args.cpu, data=args.data, extend=args.extend)
        test = figures["test"]
        print(f"release: {args.out / args.name}.keras/.onnx: {DATA[args.data]} accuracy {test['accuracy']:.4f}, "
              f"macro F1 {test['macro_avg']['f1']:.4f}, ECE {figures['test_before_temperature']['ece']:.3f} -> "
              f"{test['ece']:.3f} (temperature {figures['temperature']:.3f}), copy within "
              f"{figures['onnx_max_difference']:.1g}", file=sys.stderr)

    run_stage(run, parser, argv)


if __name__ == "__main__":
    main()
