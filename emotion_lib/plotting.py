"""Shared matplotlib/seaborn figures for the pipeline's static PNG plots.

Evaluation (confusion heatmap, ROC curves), the trial summary (grouped bar
chart), training (learning curves) and data preparation (class distribution
bar charts) all draw their figures here, so every PNG shares one style and
one deterministic, atomic way of being written.

Figures are built as bare :class:`matplotlib.figure.Figure` objects rather
than through ``pyplot``: they are never registered with a GUI backend, need
no global figure manager and are freed as soon as they go out of scope,
which keeps long-running stages from leaking memory.  The Agg backend is
forced anyway in case a caller (or seaborn) reaches for ``pyplot``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from emotion_lib.atomic import atomic_file  # noqa: E402

DPI = 110
"""Resolution of every saved PNG; high enough to read annotations, small enough to keep diffs and repo size low."""

STYLE: dict[str, Any] = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "font.family": "DejaVu Sans",
    # A fixed hash salt makes SVG ids reproducible; PNGs do not need it but it costs nothing.
    "svg.hashsalt": "emotion-lib",
}
"""rcParams applied while a figure is built, instead of mutating the process-wide defaults."""

PALETTE: tuple[str, ...] = tuple(sns.color_palette("tab10", 10).as_hex())
"""Colour cycle shared by all figures so that the same series keeps the same colour across plots."""


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`STYLE` for the duration of the block (figure creation and drawing)."""
    with matplotlib.rc_context(STYLE):
        yield


def new_figure(width: float = 7.0, height: float = 5.0, *, nrows: int = 1, ncols: int = 1) -> tuple[Figure, Any]:
    """Return a pyplot-free figure with a constrained layout and its axes (an array when more than one)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows=nrows, ncols=ncols, squeeze=True)
    return fig, axes


def save_png(fig: Figure, path: str | os.PathLike, *, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` atomically as a byte-reproducible PNG and release it.

    Matplotlib stamps its version into the PNG's ``Software`` text chunk;
    dropping it keeps the file identical across patch upgrades, so DVC does
    not see a changed output when nothing visible changed.
    """
    final = Path(path)
    with figure_style(), atomic_file(final) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    # A bare Figure is not tracked by pyplot, but a caller may have created it through pyplot.
    _close(fig)
    return final


def _close(fig: Figure) -> None:
    """Close ``fig`` if pyplot tracks it; a bare :class:`Figure` is simply dropped."""
    import matplotlib.pyplot as plt

    plt.close(fig)


def _slant_xticklabels(ax: Any, degrees: float) -> None:
    """Rotate x tick labels and anchor them at their right end so each label ends under its own tick."""
    for label in ax.get_xticklabels():
        label.set_rotation(degrees)
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")


def confusion_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str,
    normalize: bool = True,
) -> Figure:
    """Draw a confusion matrix (rows: actual, columns: predicted) as an annotated heatmap.

    With ``normalize`` each row is divided by its support so the diagonal
    reads as per-class recall; each cell also shows the raw count, because a
    rate alone hides how few test images a rare class such as *disgust* has.
    Rows with no support stay at zero instead of becoming NaN.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    n = len(labels)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix has shape {counts.shape}, expected ({n}, {n}) for {n} labels")
    if normalize:
        support = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, support, out=np.zeros(counts.shape, dtype=np.float64), where=support > 0)
        annot = np.array(
            [[f"{values[i, j]:.2f}\n({counts[i, j]})" for j in range(n)] for i in range(n)],
            dtype=object,
        )
        vmax, cbar_label = 1.0, "fraction of actual class"
    else:
        values = counts.astype(np.float64)
        annot = counts.astype(str).astype(object)
        vmax, cbar_label = max(1.0, float(values.max())), "images"
    with figure_style():
        size = max(5.5, 0.85 * n + 2.5)
        fig, ax = new_figure(size + 1.0, size)
        sns.heatmap(
            values,
            ax=ax,
            annot=annot,
            fmt="",
            cmap="Blues",
            vmin=0.0,
            vmax=vmax,
            square=True,
            xticklabels=list(labels),
            yticklabels=list(labels),
            annot_kws={"fontsize": 8},
            cbar_kws={"label": cbar_label, "shrink": 0.8},
            linewidths=0.5,
            linecolor="white",
        )
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(title)
        _slant_xticklabels(ax, 45)
        ax.tick_params(axis="y", labelrotation=0)
        ax.grid(False)
    return fig


def roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float | None] | None],
    *,
    title: str,
) -> Figure:
    """Plot one-vs-rest ROC curves, one per class, with each class's AUC in the legend.

    ``curves`` maps a class name to ``(fpr, tpr, auc)``, or to ``None`` when
    the curve is undefined (the class is absent from, or is all of, the
    test labels); such classes are still listed in the legend as ``n/a`` so
    a reader sees that they were not forgotten.
    """
    with figure_style():
        fig, ax = new_figure(7.0, 6.0)
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance (AUC 0.5)")
        for i, (name, curve) in enumerate(curves.items()):
            color = PALETTE[i % len(PALETTE)]
            if curve is None:
                # An empty plot call keeps colour and legend order aligned with the class order.
                ax.plot([], [], color=color, label=f"{name} (AUC n/a)")
                continue
            fpr, tpr, auc = curve
            auc_text = "n/a" if auc is None else f"{auc:.3f}"
            ax.plot(fpr, tpr, color=color, linewidth=1.6, label=f"{name} (AUC {auc_text})")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.legend(loc="lower right")
    return fig


def reliability_diagram(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    title: str,
    n_bins: int,
) -> Figure:
    """Reliability diagram: per curve, the top-label accuracy of each confidence bin against its mean confidence.

    ``curves`` maps a label (e.g. "as trained, ECE 0.081") to ``(correct, confidence)`` per image; each is drawn
    by scikit-learn's ``CalibrationDisplay`` with ``n_bins`` equal-width bins, beside the diagonal a calibrated
    model would follow.
    """
    from sklearn.calibration import CalibrationDisplay

    with figure_style():
        fig, ax = new_figure(6.0, 6.0)
        for i, (label, (correct, confidence)) in enumerate(curves.items()):
            CalibrationDisplay.from_predictions(correct, confidence, n_bins=n_bins, strategy="uniform", name=label,
                                                ax=ax, color=PALETTE[i % len(PALETTE)], ref_line=i == 0)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("confidence of the predicted emotion")
        ax.set_ylabel("fraction of those predictions that are right")
        ax.set_title(title)
        ax.legend(loc="upper left")
    return fig


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    annotate: bool = True,
    value_format: str = "{:g}",
    color: str | None = None,
    horizontal: bool = False,
) -> Figure:
    """Draw a simple bar chart (e.g. images per class), optionally with each bar's value written on it."""
    if len(labels) != len(values):
        raise ValueError(f"bar_chart got {len(labels)} labels but {len(values)} values")
    with figure_style():
        fig, ax = new_figure(max(5.0, 0.7 * len(labels) + 2.0), 4.5)
        positions = np.arange(len(labels))
        bar = ax.barh if horizontal else ax.bar
        bars = bar(positions, values, color=color or PALETTE[0])
        if horizontal:
            ax.set_yticks(positions, list(labels))
            ax.invert_yaxis()
            ax.grid(axis="y", visible=False)
        else:
            ax.set_xticks(positions, list(labels))
            _slant_xticklabels(ax, 30)
            ax.grid(axis="x", visible=False)
        if annotate:
            ax.bar_label(bars, labels=[value_format.format(v) for v in values], padding=2, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        # Leave headroom so the value labels above the tallest bar are not clipped.
        if annotate and len(values) and not horizontal:
            ax.set_ylim(0, max(float(max(values)), 1e-9) * 1.12)
    return fig


def grouped_bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    annotate: bool = True,
    value_format: str = "{:.2f}",
    hatches: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Draw one group of bars per category with one bar per series; ``None`` values leave a gap.

    ``hatches`` and ``colors`` optionally restyle some series, e.g. grey
    hatched bars for reference numbers from another study, so they read as
    context rather than as results.
    """
    n_series = len(series)
    if n_series == 0:
        raise ValueError("grouped_bar_chart needs at least one series")
    for name, values in series.items():
        if len(values) != len(categories):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(categories)} categories")
    hatches = hatches or {}
    colors = colors or {}
    with figure_style():
        fig, ax = new_figure(min(14.0, max(6.0, 2.0 + (0.5 + 0.35 * n_series) * len(categories))), 5.0)
        positions = np.arange(len(categories))
        width = 0.8 / n_series
        for i, (name, values) in enumerate(series.items()):
            offsets = positions - 0.4 + width * (i + 0.5)
            heights = [np.nan if v is None else float(v) for v in values]
            bars = ax.bar(
                offsets,
                heights,
                width=width,
                label=name,
                color=colors.get(name, PALETTE[i % len(PALETTE)]),
                hatch=hatches.get(name),
                edgecolor="white" if name not in hatches else "black",
                linewidth=0.5,
            )
            if annotate:
                texts = ["" if v is None else value_format.format(v) for v in values]
                ax.bar_label(bars, labels=texts, padding=2, fontsize=7, rotation=90 if n_series > 2 else 0)
        ax.set_xticks(positions, list(categories))
        _slant_xticklabels(ax, 20)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.legend(loc="upper left", ncols=min(n_series, 3))
    return fig


def learning_curves(history: Any, *, title: str) -> Figure:
    """Plot train/validation loss and accuracy per epoch from a per-epoch table.

    ``history`` is a pandas DataFrame or a mapping of column name to list
    (Keras' ``History.history`` works as is) with any of ``loss``,
    ``val_loss``, ``accuracy``, ``val_accuracy``; an ``epoch`` column, when
    present, is used as the x axis (1-based epochs are assumed otherwise).
    Missing columns are skipped so a run without validation still plots.
    """
    columns = {str(k): np.asarray(list(v), dtype=np.float64) for k, v in dict(history).items()}
    lengths = {len(v) for v in columns.values()}
    if not columns or lengths == {0}:
        raise ValueError("learning_curves needs at least one epoch of history")
    if len(lengths) != 1:
        raise ValueError(f"history columns have different lengths: { {k: len(v) for k, v in columns.items()} }")
    (n_epochs,) = lengths
    epochs = columns.pop("epoch", np.arange(1, n_epochs + 1, dtype=np.float64))
    panels = (("loss", "loss"), ("accuracy", "accuracy"))
    with figure_style():
        fig, axes = new_figure(11.0, 4.2, ncols=2)
        for ax, (metric, ylabel) in zip(axes, panels, strict=True):
            drawn = False
            for prefix, label, color in (("", "train", PALETTE[0]), ("val_", "validation", PALETTE[1])):
                values = columns.get(prefix + metric)
                if values is None:
                    continue
                ax.plot(epochs, values, marker="o", markersize=3, color=color, label=label)
                drawn = True
            if drawn:
                ax.legend()
            else:
                ax.text(0.5, 0.5, f"no {metric} recorded", ha="center", va="center", transform=ax.transAxes)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.set_title(metric)
            # Integer epochs read better than 2.5 ticks on short runs.
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(title)
    return fig
