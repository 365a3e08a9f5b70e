"""comparison.png: two runs' loss curves overlaid, and their difference, one column per loss.

Drawn with matplotlib's Agg renderer on a bare `Figure` (no pyplot, so no global backend state
and no display needed) and written atomically.
"""

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from run_compare.loss_diff import LossesComparison, bits
from tf_determinism import write_bytes_atomic


def render_comparison_png(
    losses: LossesComparison, label_a: str, label_b: str, title: str
) -> bytes:
    """The comparison figure as PNG bytes.

    Top row: A's and B's curves per loss (B dashed, so identical curves still show both).
    Bottom row: B - A in float64 on the common steps, with the steps whose bits differ marked;
    an all-zero line with no marks is bitwise identity.

    Args:
      losses: the losses comparison (its tables hold the curves).
      label_a, label_b: legend names of the runs.
      title: the figure title (e.g. the verdict).
    """
    names = [d.name for d in losses.losses]
    columns = max(1, len(names))
    fig = Figure(figsize=(5.5 * columns, 6.5), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False, sharex="col")
    a, b = losses.a, losses.b
    _, index_a, index_b = np.intersect1d(a.steps, b.steps, assume_unique=True, return_indices=True)
    for column, diff in enumerate(losses.losses):
        top, bottom = axes[0, column], axes[1, column]
        top.plot(a.steps, a.values[diff.name], color="tab:blue", lw=1.6, label=f"A: {label_a}")
        top.plot(
            b.steps, b.values[diff.name], color="tab:orange", lw=1.2, ls="--", label=f"B: {label_b}"
        )
        top.set_title(diff.name)
        top.set_ylabel("loss")
        top.legend(fontsize="small")
        va, vb = a.values[diff.name][index_a], b.values[diff.name][index_b]
        delta = vb.astype(np.float64) - va.astype(np.float64)
        bottom.plot(losses.common_steps, delta, color="tab:red", lw=1.2)
        differ = bits(va) != bits(vb)
        bottom.plot(losses.common_steps[differ], delta[differ], "x", color="tab:red", ms=5)
        bottom.axhline(0.0, color="gray", lw=0.8)
        verdict = (
            f"bitwise equal at all {diff.steps_compared} steps"
            if diff.identical
            else f"{diff.steps_compared - diff.steps_equal} of {diff.steps_compared} "
            f"steps differ (first: step {diff.first_divergent_step})"
        )
        bottom.set_title(f"B - A: {verdict}", fontsize="medium")
        bottom.set_xlabel("global step")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        bottom.set_ylabel("B - A")
    if not names:
        axes[0, 0].text(0.5, 0.5, "no loss in common", ha="center", va="center")
    fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_comparison_png(
    path: str, *, losses: LossesComparison, label_a: str, label_b: str, title: str
) -> str:
    """Renders the comparison figure and writes it to `path` atomically; returns `path`."""
    write_bytes_atomic(path, render_comparison_png(losses, label_a, label_b, title))
    return path
