"""The report's figures: precision-recall per source, precision/recall/F1 against the
score threshold with the stored operating points marked, reliability (calibration), and
which categories get flagged for which. One PNG each, small panels per category."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from qinglang.training.metrics import expected_calibration_error  # noqa: E402

_POINT_STYLES = {"balanced": ("tab:green", "-"), "review": ("tab:orange", "--"), "auto": ("tab:red", ":")}


def panel_grid(n: int, width: float = 4.2, height: float = 3.4):
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def save_figure(fig, path: Path) -> Path:
    """Save at 100 dpi; a figure title wider than the figure is wrapped onto more lines (a
    one-panel figure used to cut it off at both edges), measured with the font in use."""
    title = fig._suptitle  # matplotlib keeps the suptitle here; there is no public getter
    if title is not None:
        _wrap_to_width(fig, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _wrap_to_width(fig, title) -> None:
    """Wrap `title` at fewer characters per line until its rendered box fits the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    text = " ".join(title.get_text().split())
    renderer = FigureCanvasAgg(fig).get_renderer()
    per_line = max(20, int(fig.get_figwidth() * 11))  # about 11 characters per inch at the default size
    while True:
        title.set_text(textwrap.fill(text, per_line))
        box = title.get_window_extent(renderer)
        if (box.x0 >= 0 and box.x1 <= fig.bbox.width) or per_line <= 10:
            return
        per_line = max(10, int(per_line * 0.8))


def _labeled(table: pd.DataFrame, key: str, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = table[key].to_numpy(dtype="float64", na_value=np.nan)
    known = mask & ~np.isnan(y)
    return known, y


def scorable(table: pd.DataFrame, scores: np.ndarray, categories: list[str], mask: np.ndarray) -> list[int]:
    """Indices of categories with a score and both classes among the rows in `mask`."""
    out = []
    for j, key in enumerate(categories):
        known, y = _labeled(table, key, mask)
        if known.any() and not np.isnan(scores[known, j]).any() and 0 < y[known].sum() < known.sum():
            out.append(j)
    return out


def _split_panels(
    table: pd.DataFrame, scores: np.ndarray, categories: list[str], split: str
) -> tuple[np.ndarray, list[int]]:
    in_split = (table["split"] == split).to_numpy()
    return in_split, scorable(table, scores, categories, in_split)


def pr_curves(
    table: pd.DataFrame,
    scores: np.ndarray,
    categories: list[str],
    split: str,
    out: Path,
    baseline: np.ndarray | None = None,
) -> Path | None:
    """One panel per category, one curve per source; the keyword baseline as a dot."""
    in_split, panels = _split_panels(table, scores, categories, split)
    if not panels:
        return None
    fig, axes = panel_grid(len(panels))
    for ax, j in zip(axes, panels, strict=False):
        key = categories[j]
        for source in sorted(table.loc[in_split, "source"].unique()):
            known, y = _labeled(table, key, in_split & (table["source"] == source).to_numpy())
            if known.any() and 0 < y[known].sum() < known.sum():
                p, r, _ = precision_recall_curve(y[known].astype(int), scores[known, j])
                line = ax.plot(r, p, label=f"{source} (n+={int(y[known].sum())})")[0]
                if baseline is not None and not np.isnan(baseline[known, j]).any():
                    hit = baseline[known, j] >= 0.5
                    if hit.any():
                        ax.plot(
                            y[known][hit].sum() / y[known].sum(),
                            y[known][hit].mean(),
                            "D",
                            color=line.get_color(),
                            markersize=6,
                        )
        ax.set(title=key, xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Precision-recall on {split}, per source (◆ = keyword filter)")
    return save_figure(fig, out / f"pr_curves_{split}.png")


def threshold_curves(
    table: pd.DataFrame,
    scores: np.ndarray,
    categories: list[str],
    profiles: dict[str, np.ndarray],
    split: str,
    out: Path,
) -> Path | None:
    """Precision, recall and F1 as the threshold moves, pooled over sources, with each
    stored operating point as a vertical line: what choosing a profile costs and buys."""
    in_split, panels = _split_panels(table, scores, categories, split)
    if not panels:
        return None
    fig, axes = panel_grid(len(panels))
    for ax, j in zip(axes, panels, strict=False):
        known, y = _labeled(table, categories[j], in_split)
        p, r, t = precision_recall_curve(y[known].astype(int), scores[known, j])
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0)
        ax.plot(t, p[:-1], label="precision")
        ax.plot(t, r[:-1], label="recall")
        ax.plot(t, f1[:-1], label="F1", color="black", alpha=0.6)
        for name, thresholds in profiles.items():
            if np.isfinite(thresholds[j]):
                color, style = _POINT_STYLES.get(name, ("gray", "-."))
                ax.axvline(thresholds[j], color=color, linestyle=style, label=f"{name} {thresholds[j]:.2f}")
        ax.set(
            title=f"{categories[j]} (n+={int(y[known].sum())})", xlabel="score threshold", xlim=(0, 1), ylim=(0, 1.02)
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Precision / recall / F1 against the threshold on {split}, with the stored operating points")
    return save_figure(fig, out / f"threshold_curves_{split}.png")


def reliability(
    table: pd.DataFrame, scores: np.ndarray, categories: list[str], split: str, out: Path, bins: int = 10
) -> Path | None:
    """Observed positive rate per score bin against the mean score; the diagonal is perfect
    calibration. Bin sizes are printed so sparse bins are not over-read."""
    in_split, panels = _split_panels(table, scores, categories, split)
    if not panels:
        return None
    fig, axes = panel_grid(len(panels), height=3.6)
    edges = np.linspace(0, 1, bins + 1)
    for ax, j in zip(axes, panels, strict=False):
        known, y = _labeled(table, categories[j], in_split)
        s, yy = scores[known, j], y[known]
        which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
        counts = np.bincount(which, minlength=bins)
        filled = counts > 0
        mean_s = np.bincount(which, s, bins)[filled] / counts[filled]
        rate = np.bincount(which, yy, bins)[filled] / counts[filled]
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1)
        ax.plot(mean_s, rate, "o-")
        for xs, ys, c in zip(mean_s, rate, counts[filled], strict=True):
            ax.annotate(str(c), (xs, ys), fontsize=6, xytext=(2, -8), textcoords="offset points")
        ax.set(
            title=f"{categories[j]} (ECE {expected_calibration_error(yy, s, bins):.3f})",
            xlabel="mean predicted probability",
            ylabel="observed positive rate",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        ax.grid(alpha=0.3)
    fig.suptitle(f"Reliability on {split} (numbers: rows per bin)")
    return save_figure(fig, out / f"reliability_{split}.png")


def confusion_heatmap(confusion: pd.DataFrame, split: str, out: Path) -> Path | None:
    """Rate at which texts that are A (and known not to be B) get flagged as B."""
    if confusion.empty or confusion.to_numpy().size == 0 or np.all(np.isnan(confusion.to_numpy())):
        return None
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * confusion.shape[1], 1.0 + 0.5 * confusion.shape[0]))
    data = confusion.to_numpy(dtype=float)
    im = ax.imshow(np.nan_to_num(data, nan=0.0), cmap="Reds", vmin=0, vmax=max(0.05, float(np.nanmax(data))))
    ax.set_xticks(range(confusion.shape[1]), confusion.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(confusion.shape[0]), confusion.index, fontsize=8)
    for (r, c), v in np.ndenumerate(data):
        if not np.isnan(v) and v >= 0.01:
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xlabel("flagged as")
    ax.set_ylabel("labeled as")
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title(f"Cross-category false flags on {split}")
    return save_figure(fig, out / f"confusion_{split}.png")
