"""Reproducing the whole study: the plan made from the committed summaries, serial against Ray as measured, a
projection from it, and the check of committed runs against today's code."""

import functools

from .. import plan as plan_lib
from .. import results


@functools.lru_cache(maxsize=1)
def _plan():
    """The plan of the committed results, made once per report (it reads every run's result.json)."""
    return plan_lib.whole_plan(results.RESULTS)


def plan_table(summary):
    """Every study of the plan (made from results/, as reproduce.py --dry-run prints it), then what is left out."""
    del summary  # the block renders where results/summary.json exists; the plan reads every summary itself
    plan = _plan()
    lines = ["| study | made from | runs | hours of training when committed |", "|---|---|---|---|"]
    for study in plan.studies:
        source = "its sweep settings" if study.kind == "sweep" else "its variants' run records"
        lines.append(f"| {study.name} | {source} | {len(study.runs)} | {study.committed_hours():.2f} |")
    total = sum(study.committed_hours() for study in plan.studies)
    lines.append(f"| all | | {len(plan.runs())} | {total:.2f} |")
    lines += ["", "Then, in order: " + "; ".join(
        f"{step.name} ({', '.join(step.norms)}, seeds {', '.join(map(str, step.seeds))}"
        + (", timed: alone, after every run)" if step.timed else ")") for step in plan.steps) + "."]
    if plan.left_out:
        reasons = {}
        for folder, why in plan.left_out:
            reasons.setdefault(why, []).append(folder.replace(results.RESULTS.rstrip("/") + "/", ""))
        lines += ["", "Not in the plan: " + "; ".join(
            f"{', '.join(f'`{name}`' for name in names)}: {why}" for why, names in reasons.items())
                  + " (their numbers stay as committed)."]
    lines += ["", "Nor does it remake: " + "; ".join(f"`{name}`: {why}" for name, why in plan_lib.NOT_PLANNED.items())
              + "."]
    return "\n".join(lines)


def _whole_plan_hours():
    return sum(study.committed_hours() for study in _plan().studies)


def spread(measured):
    """Serial against Ray as measured on this machine, and what that projects for more cores or machines."""
    serial, on_ray, workers = measured["serial_seconds"], measured["ray_seconds"], measured["workers"]
    one, two = measured["one_run_seconds"]["1"], measured["one_run_seconds"]["2"]
    per_run = serial / measured["runs"]
    hours = _whole_plan_hours()
    machine, accuracy = measured["machine"], measured["seed_1_accuracy"]
    cores = [8, 16, 64]
    by_cores = ", ".join(f"{c} cores about {hours * (one / per_run) / c:.1f} h" for c in cores)
    by_machines = ", ".join(f"{k} such machines about {hours / (k * serial / on_ray):.1f} h" for k in (2, 4, 8))
    return (f"Measured on {machine['processor']} ({machine['cpu_count']} cores), one after the other with nothing "
            f"else running: {measured['runs']} runs (GN, 2 epochs on 30,000 images) took {serial:.0f} s one after the "
            f"other at TensorFlow's default threads (as train.py and sweep.py run them) and {on_ray:.0f} s on "
            f"{workers} Ray workers of one thread each, Ray's start included: **{serial / on_ray:.2f}x**. One run "
            f"alone took {one:.0f} s on one thread and {two:.0f} s on two (TensorFlow's start included), and ended "
            f"elsewhere: seed 1 at {100 * accuracy['threads-1']:.2f} % on one thread (on Ray: "
            f"{100 * accuracy['ray']:.2f} %) and {100 * accuracy['threads-2']:.2f} % on two (one after the other: "
            f"{100 * accuracy['serial']:.2f} %), so a run's threads are part of its record. *Projection, not measured:* "
            f"the plan's "
            f"{hours:.1f} hours of committed training (made one run at a time on 2 cores) would take, one run per "
            f"core at one thread's speed, {by_cores}; and {by_machines}, spread by `--address` (if the runs spread "
            "as evenly as here; the longest runs, at batch 2, set a floor).")


def _unchecked(check):
    """The plan's studies the check has not covered."""
    return [study.name for study in _plan().studies if study.name not in check["studies"]]


def check_verdict_short(check):
    """The check's verdict in one sentence, for the README."""
    verdict, unchecked = check["verdict"], _unchecked(check)
    return (f"`python reproduce.py --check` reran the first {check['epochs']} epochs of seed 1 of every point: "
            f"{verdict['equal']} of {len(check['runs'])} runs of {len(check['studies'])} studies gave the committed "
            f"numbers again, bit for bit ({check['machine']['processor']}); {verdict['not_reproduced']} made here at "
            "the same threads did not"
            + (f"; {verdict['elsewhere_differ']} made elsewhere differ" if verdict["elsewhere_differ"] else "")
            + (f"; not checked yet: {', '.join(unchecked)}" if unchecked else "") + ".")


def check_verdict(check):
    """The check's sentence, and the runs it found differing, largest first (at most five)."""
    verdict, unchecked = check["verdict"], _unchecked(check)
    differing = sorted((row for row in check["runs"] if not row["equal"]),
                       key=lambda row: -(row["largest_difference"] or 0.0))[:5]
    lines = [f"Checked on {check['machine']['processor']} ({', '.join(check['studies'])}): {verdict['sentence']}"
             + (f" Not checked yet: {', '.join(unchecked)}." if unchecked else "")]
    if differing:
        lines += ["", "| run | made on | checked on | largest difference |", "|---|---|---|---|"]
        for row in differing:
            made, checked = row["made_on"], row["checked_on"]
            lines.append(f"| `{row['run']}` | {made['processor'] or 'unrecorded'}, {made['threads'] or '?'} threads | "
                         f"{checked['processor']}, {checked['threads']} threads | "
                         f"{row['largest_difference'] if row['largest_difference'] is not None else '–'} "
                         f"({row['where']}) |")
    return "\n".join(lines)
