"""The group axis's table and verdict: from LN (all channels in one group) through GN to IN (one channel per group)."""

import os

from .. import plan as plan_lib
from .. import results
from .. import variants as variants_lib
from .fmt import _mean, machine_name


def _cell(values, decimals=1):
    """Mean (lowest–highest) of the seeds' values."""
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    return f"{_mean(values):.{decimals}f} ({min(values):.{decimals}f}–{max(values):.{decimals}f})"


def _clean(point):
    return [100 * run["final_accuracy"] for run in point["runs"]]


def _trained(summary):
    """Which runs are new and how long they took, on which machine."""
    new = [run for run in summary["runs"] if run["run_dir"].startswith(summary["settings"].get("output_dir", "\0"))]
    reused = sorted({run["norm"] for run in summary["runs"] if run not in new}, key="ln gn in".split().index)
    text = (f"The {len(new)} new runs trained {sum(run['train_seconds'] for run in new) / 60:.0f} minutes on "
            f"{machine_name(summary)}")
    if reused:
        folder = os.path.dirname(os.path.dirname(next(run["run_dir"] for run in summary["runs"] if run not in new)))
        text += (f"; the {', '.join(variants_lib.NORM_LABELS[n] for n in reused)} points are the "
                 f"{plan_lib.study_name(folder)} study's runs, reused")
    return text + "."


def group_axis_table(summary):
    """One row per point of the axis, in order from LN to IN."""
    points = results.group_axis_points(summary["runs"])
    shifts = [results.SHIFT_LABELS[name] for name in results.GROUP_AXIS_SHIFTS]
    lines = ["| point | groups per layer | channels per group | clean test acc. % | test CE | "
             + " | ".join(f"{label} %" for label in shifts) + " | mean of the shifts % | paper: ImageNet error % |",
             "|---|---|---|---|---|" + "---|" * len(shifts) + "---|---|"]
    for point in points:
        cells = [point["name"], point["groups"], point["sizes"], _cell(_clean(point), 2),
                 _cell([run["final_ce"] for run in point["runs"]], 4),
                 *(_cell(results.axis_shift_values(point, name)) for name in results.GROUP_AXIS_SHIFTS),
                 _cell(results.axis_shift_average(point)),
                 "–" if point["paper"] is None else f"{point['paper']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    settings = summary["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    shifted = len(next(iter(points))["runs"][0]["shifts"]) - 1
    lines += ["", f"Mean of seeds {seeds} (lowest–highest) after {settings['epochs']} epochs at the study's recipe "
              f"({settings['optimizer']}, peak lr {settings['lr']:g}, batch {settings['batch_size']}), on all "
              f"{summary['runs'][0]['test_images']:,} test images. Groups and channels per group are "
              "given over the layers of 8, 12 and 16 channels (a range where they differ by layer). *Mean of the "
              f"shifts*: the {shifted} shifts of the input-shift study. *Paper*: the GN paper's Table 3, ResNet-50's "
              "top-1 error on ImageNet at the same number of groups or channels per group (a different network, "
              "data set and measure: compare the order of the points, not the values). "
              f"{_trained(summary)}"]
    return "\n".join(lines)


def group_axis_verdict(summary):
    """Where the middle of the axis lands against its ends, where the trade-off turns, and the paper's order."""
    points = results.group_axis_points(summary["runs"])
    ends, middle = (points[0], points[-1]), points[1:-1]
    clean = {p["name"]: _clean(p) for p in points}
    grey = {p["name"]: results.axis_shift_values(p, "grey background") for p in points}
    spread = max(max(v) - min(v) for v in clean.values())
    best = max(middle, key=lambda p: _mean(clean[p["name"]]))
    first, last = ends

    def versus(a, b):
        gap = _mean(clean[a["name"]]) - _mean(clean[b["name"]])
        return f"{gap:+.2f} points against {b['name']}"

    steps = [(b["name"], a["name"], _mean(grey[b["name"]]) - _mean(grey[a["name"]]),
              _mean(clean[b["name"]]) - _mean(clean[a["name"]])) for a, b in zip(points, points[1:])]
    gain = max(steps, key=lambda s: s[2])
    cost = min(steps, key=lambda s: s[3])
    ours = sorted(points, key=lambda p: -_mean(clean[p["name"]]))
    papers = [p for p in points if p["paper"] is not None]
    paper_best = min(papers, key=lambda p: p["paper"])
    return (
        f"Clean test accuracy along the axis, from {first['name']} to {last['name']}: "
        + ", ".join(f"{p['name']} {_mean(clean[p['name']]):.2f}" for p in points)
        + f" % (mean of {len(first['runs'])} seeds; the seeds of one point lie up to {spread:.2f} points apart). "
        f"The best point of the middle, {best['name']}, is {versus(best, first)} and {versus(best, last)}: "
        + ("within the seeds' range of LN, clearly above IN. "
           if abs(_mean(clean[best["name"]]) - _mean(clean[first["name"]])) <= spread else "")
        + f"Robustness runs the other way: on grey paper (+128) accuracy rises from {_mean(grey[first['name']]):.1f} % "
        f"({first['name']}) to {_mean(grey[last['name']]):.1f} % ({last['name']}), the largest step "
        f"({gain[2]:+.1f} points) from {gain[1]} to {gain[0]}; the largest clean cost ({cost[3]:+.2f} points) comes "
        f"from {cost[1]} to {cost[0]}. "
        f"In the GN paper (ResNet-50 on ImageNet, top-1 error, its Table 3) the best of these settings is "
        f"{paper_best['name']} ({paper_best['paper']:.1f} %) and IN the worst "
        f"({last['paper']:.1f} %, LN {first['paper']:.1f} %); here the best is {ours[0]['name']} and the worst "
        f"{ours[-1]['name']}."
    )
