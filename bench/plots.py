"""The curves drawn as PNG images with matplotlib (the ``bench`` extra)."""

from __future__ import annotations

import os


def draw(curves: list[dict], out: str) -> list[str | None]:
    """One PNG per curve summary in ``out``; the file names (``None``
    each without matplotlib, which only ``make bench`` installs)."""
    try:
        import matplotlib
    except ImportError:
        return [None] * len(curves)

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = []
    for curve in curves:
        figure, axes = pyplot.subplots(figsize=(6, 3.6), dpi=100)
        for label, points in curve["series"].items():
            xs = [float(x) for x in points]
            axes.plot(xs, list(points.values()), marker="o", label=label)
        if curve.get("logx", True):
            axes.set_xscale("log")
        if curve.get("logy"):
            axes.set_yscale("log")
        else:
            axes.set_ylim(bottom=0)
        axes.set_title(curve["title"], fontsize=10)
        axes.set_xlabel(curve["x"])
        axes.set_ylabel(curve["y"])
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        name = f"curve-{curve['name']}.png"
        figure.savefig(os.path.join(out, name))
        pyplot.close(figure)
        names.append(name)
    return names
