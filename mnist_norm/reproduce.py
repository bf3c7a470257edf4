"""Reproducing the whole study as a library: a plan (mnist_norm.plan) run serially or on Ray (`run`), then every
study's summary and figures and the evaluations that read its runs; and the check that committed runs still come
from today's code (`check`). reproduce.py is the command.
"""

import dataclasses
import multiprocessing
import os
import shutil
import tempfile

from . import cluster
from . import plan as plan_lib
from . import rundir

CHECK_EPOCHS = 2  # reproduce.py --check: the first epochs of seed 1 of every point, under the run's own schedule
TIMING_COLUMNS = ("epoch_seconds",)  # a history's columns that are timings, not results
MADE = "made"  # --check --threads made: each run on the threads its record says it was made on
MADE_NEEDS_RAY = (f"--threads {MADE} needs --workers or --address: a process sets its TensorFlow threads once, so "
                  "each run needs a fresh worker")


def missing(plan):
    return [run for run in plan.runs() if not run.finished()]


def train_on_ray(runs, workers=None, address=None, threads=1, out=print, stop_after=None):
    """Trains `runs` on a local Ray of `workers` workers or the cluster at `address`, `threads` CPUs a run (or a list:
    one number per run; a local Ray then has `workers` x the largest) and a GPU a run where the cluster has GPUs;
    returns the tasks' reports (run folder, host, seconds, threads)."""
    ray = cluster.connect(workers, address, max(threads) if isinstance(threads, (list, tuple)) else threads)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU") else 0
        total, done = len(runs), []

        def finished(report):
            done.append(report)
            out(f"{len(done)} of {total}: {report['run_dir']}: {'trained' if report['trained'] else 'finished before'}"
                f" on {report['host']} in {report['seconds']:.0f} s ({report['threads']} thread"
                f"{'' if report['threads'] == 1 else 's'})")

        return cluster.train(runs, threads, gpus, on_done=finished, stop_after=stop_after)
    finally:
        ray.shutdown()


def _deploy_step(step):
    # A fresh process (spawned): TensorFlow's own ops on one thread, as the interpreters run, and nothing else
    # running beside the timings.
    from . import deploy

    keras_threads = deploy.one_thread()
    found = deploy.finished_runs(step.models, step.norms, step.seeds)
    calibration = deploy.calibration_images()
    for _, _, run_dir in found:
        if not deploy.exported(run_dir):
            deploy.export_run(run_dir, calibration)
    deploy.study(step.models, step.output_dir, list(step.seeds), keras_threads=keras_threads, norms=step.norms)


def run_step(step, out=print):
    """An evaluation of the plan, written where it was; a step whose models are not there says so and is skipped."""
    from . import deploy
    from . import shift

    try:
        if step.kind == "shift":
            shift.study(step.models, step.output_dir, step.norms, step.seeds)
        else:
            deploy.finished_runs(step.models, step.norms, step.seeds)  # DeployError here, one line, if there is none
            process = multiprocessing.get_context("spawn").Process(target=_deploy_step, args=(step,))
            process.start()
            process.join()
            if process.exitcode:
                raise RuntimeError(f"{step.name}: its process ended with exit code {process.exitcode}")
    except (shift.NoModels, deploy.DeployError) as error:
        out(f"{step.name}: skipped, {error}")
        return False
    out(f"{step.name}: written in {step.output_dir}")
    return True


def _reads(step, run):
    """Whether the evaluation `step` reads the run."""
    norm, seed = run.config.norm, run.config.seed
    return norm in step.norms and seed in step.seeds and os.path.normpath(run.run_dir) in {
        os.path.normpath(rundir.run_dir_for(step.models, norm, seed, several)) for several in (True, False)}


def run(plan, workers=None, address=None, threads=None, out=print):
    """Runs what the plan misses (on Ray with `workers` or `address`, else serially in this process), then every
    study's summary and figures, then each evaluation whose runs were trained now or whose summary is missing.
    Returns the runs trained now."""
    fresh = missing(plan)
    out(f"{len(fresh)} of {len(plan.runs())} runs to train" + (
        f", on Ray ({'--address ' + address if address else f'{workers} workers'}, {threads or 1} thread"
        f"{'' if (threads or 1) == 1 else 's'} a run)" if fresh and (workers or address) else ""))
    if (fresh and workers) or address:  # a cluster named is joined even with nothing to run: a wrong address says so
        train_on_ray(fresh, workers, address, threads or 1, out)
    elif threads and not cluster.set_threads(threads):
        out(f"note: TensorFlow had started; the runs use its default threads, not {threads}")
    from . import sweep
    from . import training

    for study in plan.studies:  # trains serially what is still missing, then writes the summary and figures
        out(f"study {study.name}: {study.output_dir}")
        if study.kind == "train":
            training.train_all(study.configs)
        else:
            sweep.run(study.sweep)
    for step in plan.steps:
        retrained = any(_reads(step, run) for run in fresh)
        if retrained or not os.path.exists(rundir.summary_path(step.output_dir)):
            run_step(step, out)
    return fresh


# ----------------------------------------------------------------------------- the check


def check_runs(plan):
    """The runs --check reruns: seed 1 (a study's first seed) of every point of every study, of the variants this
    Keras can build."""
    from . import variants

    chosen = []
    for study in plan.studies:
        first = min(run.config.seed for run in study.runs) if study.runs else None
        chosen += [run for run in study.runs
                   if run.config.seed == first and not variants.missing_keras(run.config.norm)]
    return chosen


def _compare(committed_rows, rows, epochs):
    """(the largest difference over every column but the timings of the first `epochs` rows, its column), or
    (None, why) when the committed history is shorter than that."""
    if len(committed_rows) < epochs or len(rows) < epochs:
        return None, f"history has {min(len(committed_rows), len(rows))} of {epochs} epochs"
    largest, where = 0.0, ""
    for ours, theirs in zip(rows[:epochs], committed_rows[:epochs]):
        for column, value in theirs.items():
            if column in TIMING_COLUMNS:
                continue
            difference = abs(float(ours[column]) - float(value))
            if difference > largest or (difference != difference):
                largest, where = difference, f"{column}, epoch {int(float(ours['epoch']))}"
    return largest, where


def _made_on(run):
    """(processor, threads) the committed run recorded (threads: TensorFlow's default, one per core, where it did not
    record them); (None, None) for a run made before result.json recorded its machine."""
    path = rundir.file(run.committed_dir, "result")
    environment = rundir.read_json(path).get("environment") if os.path.exists(path) else None
    if not environment:
        return None, None
    made = environment["machine"]
    return made.get("processor"), made.get("threads", made.get("cpu_count"))


def threads_made_on(made):
    """The threads to check a run on with --threads made, from its `_made_on`: those it was made on, or, where its
    record names none, TensorFlow's default on this machine (one per core), which is how train.py and sweep.py ran
    before runs recorded their threads."""
    return made[1] or len(os.sched_getaffinity(0))


def judged(row):
    """Whether a checked run was made where it was checked (processor and threads): there, a difference means that
    today's code no longer makes it; elsewhere, float rounding alone may move it."""
    return row["made_on"] == row["checked_on"]


def verdict(rows):
    """{"equal", "not_reproduced", "elsewhere_differ", "sentence"}: counts of the check's rows."""
    equal = [row for row in rows if row["equal"]]
    broken = [row for row in rows if not row["equal"] and judged(row)]
    elsewhere = [row for row in rows if not row["equal"] and not judged(row)]
    sentence = (f"{len(equal)} of {len(rows)} runs gave the committed numbers again in their first {CHECK_EPOCHS} "
                f"epochs; {len(broken)} made on this processor at the same threads did not")
    if elsewhere:
        largest = max(elsewhere, key=lambda row: row["largest_difference"] or 0.0)
        sentence += (f"; {len(elsewhere)} made on another processor or at other threads differ by at most "
                     f"{largest['largest_difference']:.3g} ({largest['where']}, {largest['run']})")
    return {"equal": len(equal), "not_reproduced": len(broken), "elsewhere_differ": len(elsewhere),
            "sentence": sentence + "."}


def write_check(rows, folder, studies):
    """check.json in `folder`: the rows, the verdict, the studies checked and where the check ran; returns the
    verdict. The rows of studies an earlier check covered and this one did not (a check of some --studies) are
    kept, each row with the machine it was checked on; the verdict is over all of them."""
    from . import machine

    path = os.path.join(folder, "check.json")
    earlier = rundir.read_json(path) if os.path.exists(path) else {}
    kept = [row for row in earlier.get("runs", []) if row["study"] not in studies]
    studies = [name for name in earlier.get("studies", []) if name not in studies] + list(studies)
    rows = kept + list(rows)
    result = verdict(rows)
    os.makedirs(folder, exist_ok=True)
    rundir.write_json(path, {"epochs": CHECK_EPOCHS, "studies": studies, "verdict": result, "runs": rows,
                             **machine.environment()})
    return result


def check(plan, scratch=None, workers=None, address=None, threads=None, epochs=CHECK_EPOCHS, out=print):
    """Reruns `check_runs(plan)` for their first `epochs` epochs in a temporary folder and compares each history
    with the committed one. `threads`: a number for every run, or MADE (each on the threads it was made on, see
    `threads_made_on`; needs Ray, since a process sets its threads once). Returns rows: {"study", "run",
    "largest_difference", "where", "made_on", "checked_on", "equal"}."""
    from . import machine

    scratch_dir = scratch or tempfile.mkdtemp(prefix="reproduce-check-")
    try:
        chosen = [dataclasses.replace(run, config=run.config.replace(output_dir=scratch_dir, force=False),
                                      run_dir=os.path.join(scratch_dir, os.path.relpath(run.run_dir, plan.output_dir)),
                                      export=False)
                  for run in check_runs(plan)]
        made = [_made_on(run) for run in chosen]
        out(f"--check: {len(chosen)} runs, their first {epochs} epochs, in {scratch_dir}")
        if threads == MADE:
            if not (workers or address):
                raise cluster.ClusterError(MADE_NEEDS_RAY)
            reports = train_on_ray(chosen, workers, address, [threads_made_on(one) for one in made], out,
                                   stop_after=epochs)
        elif workers or address:
            reports = train_on_ray(chosen, workers, address, threads or 1, out, stop_after=epochs)
        else:
            cluster.set_threads(threads)
            reports = []
            for index, run in enumerate(chosen, 1):
                reports.append(cluster.run_one(run.config, run.run_dir, None, False, run.diverged_is_result,
                                               stop_after=epochs))
                out(f"{index} of {len(chosen)}: {run.committed_dir}")
        processor = machine.cpu_name()
        rows = []
        for run, report, (made_processor, made_threads) in zip(chosen, reports, made):
            committed_history = rundir.file(run.committed_dir, "history")
            rows_committed = rundir.read_history(committed_history) if os.path.exists(committed_history) else []
            largest, where = _compare(rows_committed, rundir.read_history(rundir.file(run.run_dir, "history")),
                                      epochs)
            rows.append({"study": run.study, "run": run.committed_dir, "largest_difference": largest,
                         "where": where, "made_on": {"processor": made_processor, "threads": made_threads},
                         "checked_on": {"processor": processor, "threads": report["threads"]},
                         "equal": largest == 0.0})
        return rows
    finally:
        if scratch is None:
            shutil.rmtree(scratch_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- serial against Ray, measured


SPREAD_RUNS = 8  # GN, seeds 1-8, 2 epochs on the first 30,000 training images: runs of the studies' size
SPREAD_SETTINGS = {"norm": "gn", "epochs": 2, "train_limit": 30000, "verbose": 0}


def _timed_subprocess(code):
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def measure_spread(scratch, workers=2):
    """The same SPREAD_RUNS runs one after the other in one process at TensorFlow's default threads (as train.py and
    sweep.py run them), then on a local Ray of `workers` workers of one thread each; and one run alone at 1 and at 2
    threads. Wall-clock seconds of each, measured one after the other (run it with nothing else running)."""
    import time

    from . import machine

    serial = _timed_subprocess(
        "from mnist_norm import cluster, reproduce\n"
        f"for run in reproduce._spread_runs({scratch!r}, 'serial'):\n"
        "    cluster.run_one(run.config, run.run_dir)\n")
    started = time.perf_counter()
    train_on_ray(_spread_runs(scratch, "ray"), workers=workers, threads=1, out=lambda line: None)
    on_ray = time.perf_counter() - started
    alone = {threads: _timed_subprocess(
        "from mnist_norm import cluster, reproduce\n"
        f"run = reproduce._spread_runs({scratch!r}, 'threads-{threads}')[0]\n"
        f"cluster.run_one(run.config, run.run_dir, {threads})\n") for threads in (1, 2)}
    histories = {name: rundir.read_history(rundir.file(_spread_runs(scratch, name)[0].run_dir, "history"))[-1]
                 for name in ("serial", "ray", "threads-1", "threads-2")}
    return {"runs": SPREAD_RUNS, "settings": SPREAD_SETTINGS, "workers": workers,
            "serial_seconds": round(serial, 1), "ray_seconds": round(on_ray, 1),
            "speedup": round(serial / on_ray, 2),
            "one_run_seconds": {str(threads): round(seconds, 1) for threads, seconds in alone.items()},
            "seed_1_accuracy": {name: row["val_accuracy"] for name, row in histories.items()},
            **machine.environment()}


def _spread_runs(scratch, folder):
    from . import config as config_lib

    return [plan_lib.Run("spread", config, rundir.run_dir_for(config.output_dir, config.norm, config.seed), "", None)
            for config in (config_lib.TrainConfig(**SPREAD_SETTINGS, seed=seed, output_dir=os.path.join(scratch, folder))
                           for seed in range(1, SPREAD_RUNS + 1))]
