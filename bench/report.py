"""The report: medians, paired ratios, targets, the Markdown table and
``summary.json``."""

from __future__ import annotations

import statistics

from harness import BARE, OURS, PEER, PLAIN

# row key -> [(against, direction, limit)]; direction "low" = lower is
# better, "high" = higher is better, "speedup" = ours this many times
# faster.
TARGETS = {
    "tasks/s": [(PLAIN, "high", 0.97)],
    "worker CPU us/task": [(PLAIN, "low", 1.03)],
    "publish (redis): us/call": [(PLAIN, "low", 1.02)],
    "after-commit batch of 100": [(PLAIN, "speedup", 1.2)],
    "worker boot: s": [(PLAIN, "low", 1.05), (PEER, "low", 1.00)],
    "worker boot: CPU s": [(PLAIN, "low", 1.05), (PEER, "low", 1.00)],
    "worker RSS after boot: MiB": [(PLAIN, "low", 1.05)],
    "import (celery / pyramid_tasks): CPU ms": [(PEER, "low", 1.00)],
    "import: new modules": [(PEER, "low", 1.00)],
    "import + configured app: CPU ms": [(PEER, "low", 1.00)],
}


def targets_for(row):
    for key, targets in TARGETS.items():
        if key in row:
            return targets
    return []


def paired_ratio(ours, other):
    """Median of the per-round ratios.

    Both sides of a round ran back to back, so their ratio cancels the
    slow swings of a shared machine that the medians of each side keep.
    """
    return statistics.median(
        o / p if p else float("nan") for o, p in zip(ours, other, strict=True)
    )


def ratio(row, ours, other):
    if not other:
        return None
    if "worker CPU" in row:
        # The kernel counts a running worker's CPU in 10 ms ticks, coarse
        # for one round: compare the totals of all rounds.
        return sum(ours) / sum(other)
    return paired_ratio(ours, other)


def verdict(value, direction, limit):
    if direction == "high":
        return f">= {limit}x", value >= limit
    if direction == "low":
        return f"<= {limit:.2f}x", value <= limit
    return f"<= {1 / limit:.2f}x ({limit}x faster)", value <= 1 / limit


def summarize(samples):
    seen = []
    for row, _ in samples:
        if row not in seen:
            seen.append(row)
    rows = []
    for row in seen:
        ours = samples[(row, OURS)]
        out = {"row": row, "rounds": len(ours), "targets": []}
        for side in (PLAIN, OURS, PEER, BARE):
            values = samples.get((row, side))
            out[side] = statistics.median(values) if values else None
            if side != OURS:
                out[f"vs {side}"] = ratio(row, ours, values)
        for against, direction, limit in targets_for(row):
            value = out[f"vs {against}"]
            if value is None:
                continue
            goal, met = verdict(value, direction, limit)
            out["targets"].append(
                {"against": against, "goal": goal, "met": met}
            )
        rows.append(out)
    return rows


def fmt(value):
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def fmt_ratio(value):
    return "" if value is None else f"{value:.3f}x"


def fmt_targets(row):
    return "; ".join(
        f"vs {'0.4' if t['against'] == PEER else 'plain'} {t['goal']}: "
        + ("met" if t["met"] else "MISSED")
        for t in row["targets"]
    )


def render_table(rows):
    lines = [
        "| measure | plain Celery | pyramid-tasks 0.4 | pyramid_tasks "
        "| ours / plain | ours / 0.4 | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['row']} | {fmt(row[PLAIN])} | {fmt(row[PEER])} "
            f"| {fmt(row[OURS])} | {fmt_ratio(row['vs ' + PLAIN])} "
            f"| {fmt_ratio(row['vs ' + PEER])} | {fmt_targets(row)} |"
        )
    bare = [row for row in rows if row[BARE] is not None]
    if bare:
        lines += [
            "",
            "Against a bare Celery worker (no Pyramid at all), for reference:",
            "",
            "| measure | bare Celery | pyramid_tasks | ratio |",
            "| --- | ---: | ---: | ---: |",
        ]
        for row in bare:
            lines.append(
                f"| {row['row']} | {fmt(row[BARE])} | {fmt(row[OURS])} "
                f"| {fmt_ratio(row['vs ' + BARE])} |"
            )
    return lines


def render(rows, meta, sections=()):
    """The Markdown report; ``sections`` are extra lists of lines."""
    lines = [
        "# pyramid_tasks vs plain Celery and pyramid-tasks 0.4",
        "",
        f"Taken {meta['date']} on {meta['machine']}; "
        f"Python {meta['python']}, Celery {meta['celery']}, "
        f"Redis {meta['redis']}; {meta['mode']} mode, "
        f"{meta['seconds']:.0f} s. Values are medians of the rounds; "
        "a ratio is the median of the per-round ratios (worker CPU rows: "
        "the ratio of the totals of all rounds); lower is better, except "
        "tasks/s. pyramid-tasks 0.4 (the peer) runs from PyPI in its own "
        f"virtualenv ({meta['peer']}).",
        "",
        *render_table(rows),
        "",
        "Plain Celery is a Celery app running the same no-op tasks; for "
        "boot and memory its module builds the same Pyramid application "
        "(`bench/plain_pyramid.py`); the peer runs the same app written "
        "for its API (`bench/peerapp.py`). The request build row compares "
        "our `TaskRequestFactory` with Pyramid's own `Request.blank` + "
        "`apply_request_extensions`. The import rows run in new processes: "
        "`import celery` (plain) or `import pyramid_tasks`, then the "
        "benchmark app built up to its WSGI app with its Celery app "
        "finalized. The peer's publish row is measured in a process of "
        "its own, the same way.",
        "",
    ]
    for section in sections:
        lines += [*section, ""]
    return "\n".join(lines)


def describe_curve(curve):
    """One line per series: its shape and its fitted line."""
    lines = []
    for series, fit in curve["shapes"].items():
        lines.append(
            f"  - {series}: **{fit['shape']}** (y = {fit['intercept']:.4g} "
            f"+ {fit['slope']:.4g} x, r² {fit['r2']:.3f})"
        )
    return lines


def render_curves(curves, images):
    """The curves section: each curve's image, shapes and expectation."""
    lines = ["## Curves", ""]
    for curve, image in zip(curves, images, strict=True):
        lines += [f"### {curve['title']}", ""]
        if image:
            lines += [f"![{curve['title']}]({image})", ""]
        lines += [
            f"Expected: {curve['expect']}. Medians, {curve['y']} against "
            f"{curve['x']}:",
            "",
            "| series | "
            + " | ".join(str(x) for x in next(iter(curve["series"].values())))
            + " |",
            "| --- |" + " ---: |" * len(next(iter(curve["series"].values()))),
        ]
        for series, points in curve["series"].items():
            lines.append(
                f"| {series} | "
                + " | ".join(fmt(y) for y in points.values())
                + " |"
            )
        lines += ["", *describe_curve(curve)]
        if curve.get("note"):
            lines.append(f"  - {curve['note']}")
        lines.append("")
    return lines


def render_outbox(medians, latency):
    """The outbox section: the two sides of each row, and latencies."""
    lines = [
        "## Outbox (PostgreSQL, Redis)",
        "",
        "| measure | after-commit publish | outbox | outbox / after commit |",
        "| --- | ---: | ---: | ---: |",
    ]
    pairs = {}
    for row, value in medians.items():
        name, _, side = row.rpartition(" (")
        pairs.setdefault(name, {})[side.rstrip(")")] = value
    for name, sides in pairs.items():
        direct, outbox = sides.get("after commit"), sides.get("outbox")
        ratio = outbox / direct if direct and outbox else None
        lines.append(
            f"| {name} | {fmt(direct)} | {fmt(outbox)} | {fmt_ratio(ratio)} |"
        )
    lines += [
        "",
        "Commit-to-publish latency through the relay (from the response "
        "of the view to the relay's publish; polling at the default 1 s "
        "interval):",
        "",
        "| relay woken by | p50: ms | p99: ms | samples |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, figures in latency.items():
        lines.append(
            f"| {label} | {fmt(figures['p50_ms'])} | "
            f"{fmt(figures['p99_ms'])} | {figures['samples']} |"
        )
    return lines
