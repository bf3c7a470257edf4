"""Sweeps as a library: running a sweep's points (`run`, their grid from mnist_norm.studies), with their summaries
and figures. sweep.py is the command; its docstring shows the studies.

A point (setting values, model, seed) is an ordinary training run in <output-dir>/<norm>/<setting>-<value>/.../
seed-<k>/ (training.train_run), resumed or reused like any other; a point whose loss becomes NaN is recorded as
diverged, not a crash of the sweep.
"""

import math
import os
import time

from . import quiet_tf  # noqa: E402

quiet_tf.start()


from . import machine  # noqa: E402
from . import network as model_lib  # noqa: E402
from . import plots  # noqa: E402
from . import shift  # noqa: E402
from . import studies  # noqa: E402
from . import results  # noqa: E402
from . import rundir  # noqa: E402
from . import training  # noqa: E402
from . import variants  # noqa: E402

GROUP_AXIS_KEYS = ("groups_per_layer", "channels", "run_dir", "test_images", "shifts")


def group_axis_row(point, splits):
    """Where a group-axis point sits (groups and channels of each normalized layer), the run it read, and its
    trained model's test accuracy under every shift of shift.py."""
    config = point.config
    images, labels = splits.evaluation
    network = rundir.load_trained_model(point.run_dir)
    return {"groups_per_layer": model_lib.groups_per_layer(config.norm, config.network, config.groups,
                                                           config.group_size),
            "channels": [spec.filters for spec in config.network],
            "run_dir": os.path.relpath(point.run_dir), "test_images": len(labels),
            "shifts": {name: shift.accuracy(network.predict(shift.apply_shift(name, images), batch_size=1000,
                                                            verbose=0), labels)
                       for name in shift.SHIFTS}}


def train_point(config, splits, run_dir, strategy, stop_after=None):
    """Trains (or reuses) a point's run; a NaN loss is its result. Returns (its result, whether it trained now)."""
    try:
        return training.train_run(config, splits, run_dir, strategy, export=False, stop_after=stop_after)
    except training.TrainingDiverged as error:
        # A result like any other: marks the point finished, so a rerun does not train it again.
        result = {"norm": config.norm, "seed": config.seed, "diverged": True, "diverged_epoch": error.epoch,
                  "epochs": error.epoch, "final_accuracy": None, "final_ce": None,
                  "config": config.record(splits.source)}
        rundir.write_json(rundir.file(run_dir, "result"), result)
        return result, True


def run_point(point, splits, strategy):
    """Trains (or reuses) one point; returns (its summary row, whether it trained now)."""
    config = point.config
    result, trained = train_point(config, splits, point.run_dir, strategy)
    row = {"norm": point.norm, "seed": point.seed,
           **{flag.replace("-", "_"): getattr(config, flag.replace("-", "_")) for flag, _ in point.setting},
           "lr": config.lr, "batch_size": config.batch_size, "optimizer": config.optimizer,
           "steps_per_epoch": math.ceil(len(splits.train[0]) / config.batch_size),
           "diverged": bool(result.get("diverged", False))}
    for key in ("epochs", "final_accuracy", "final_ce", "best_accuracy", "best_epoch", "train_seconds",
                "mean_epoch_seconds", "trainable_params", "diverged_epoch"):
        if key in result:
            row[key] = result[key]
    row["l1"] = config.l1 if variants.VARIANTS[point.norm].own("l1") else None
    row["environment"] = result.get("environment")  # what its timings were measured on (run() takes it out)
    kernels = rundir.file(point.run_dir, "kernels")
    if os.path.exists(kernels) and any(flag == "l1" for flag, _ in point.setting):
        epochs = rundir.read_json(kernels)
        row["kernel_norms"] = [e["kernel_norms"] for e in epochs]
        row["near_zero"] = [e["near_zero"] for e in epochs]
        row["near_zero_all"] = [e["near_zero_all"] for e in epochs]
    return row, trained


def settings(plan, source):
    first = plan.points[0].config
    out = {"study": plan.study, "epochs": plan.epochs, "seeds": plan.seeds, "norms": list(plan.norms),
           "output_dir": os.path.relpath(plan.output_dir),
           "grid": {flag: list(values) for flag, values in plan.axes}, "other_flags": plan.train_flags,
           "data": source, "train_limit": first.train_limit, "test_limit": first.test_limit,
           "evaluated_on": "validation" if first.validation_size else "test",
           # The recipe's settings that no axis varies (report.py's sentences take them from here).
           **{name: getattr(first, name) for name in ("optimizer", "lr", "batch_size", "warmup_fraction")
              if name.replace("_", "-") not in dict(plan.axes)
              and not (name == "lr" and studies.lr_follows_batch(plan))}}
    if studies.lr_follows_batch(plan):
        out.update(batch_sizes=sorted(int(v) for v in dict(plan.axes)["batch-size"]),
                   lr_rule=f"peak lr = {plan.base_lr:g} * (batch / {plan.base_batch_size}) ** "
                           f"{studies.LR_SCALINGS[plan.lr_scaling]:g} ({plan.lr_scaling} scaling); "
                           f"warm-up {100 * first.warmup_fraction:g} %, cosine to 0",
                   base_lr=plan.base_lr, base_batch_size=plan.base_batch_size, lr_scaling=plan.lr_scaling)
    return out


def reused_environment(plan, point):
    """The machine and versions of a point reused from --reuse-dir, as that folder's summary records them (runs made
    before result.json recorded its own); None for the sweep's own points."""
    if os.path.dirname(os.path.dirname(point.run_dir)) != os.path.normpath(getattr(plan, "reuse_dir", "")):
        return None
    return machine.unrecorded(rundir.read_summary(plan.reuse_dir))


def earlier_environment(output_dir):
    """The machine and versions the summary in `output_dir` recorded before this sweep, or None."""
    return machine.unrecorded(rundir.read_summary(output_dir))


def write_summary(plan, runs, source, environments=(), previous=None):
    """summary.json and the study's figure; the machine and versions are those of the runs' own result.json
    (a run made before result.json recorded them keeps `previous`, the summary's record before this sweep)."""
    summary = {"settings": settings(plan, source), "runs": runs, **machine.of_runs(environments, previous)}
    os.makedirs(plan.output_dir, exist_ok=True)  # its first points may be runs of another folder, reused
    changed = rundir.write_json(rundir.summary_path(plan.output_dir), summary)
    stem = plan.study.replace("-", "_")
    # The same summary draws the same figures; another Matplotlib would draw them in other bytes: left as they are.
    for suffix, shown in ((".png", studies.FIGURE_NORMS.get(plan.study)), ("_after_gn.png", studies.AFTER_GN_NORMS)):
        path = os.path.join(plan.output_dir, stem + suffix)
        added = set(plan.norms) - set(studies.FIGURE_NORMS.get(plan.study, plan.norms))
        if suffix != ".png" and not added & set(shown):
            continue  # a figure of the variants after GN where the study's own figure leaves them out
        chosen = [run for run in runs if shown is None or run["norm"] in shown]
        figure = study_figure(plan, chosen, summary["settings"]) if changed or not os.path.exists(path) else None
        if figure is not None:
            rundir.save_figure(figure, path)
    return summary


def study_figure(plan, runs, settings):
    if not runs or plan.study == "grid":
        return None
    if plan.study == "batch-size" and "lr_rule" in settings:
        return plots.plot_batch_size(runs, model_lib.NORM_LABELS, plan.epochs, settings["lr_rule"])
    if plan.study == "learning-rate":
        return plots.plot_learning_rate(runs, model_lib.NORM_LABELS, plan.epochs, settings["warmup_fraction"])
    if plan.study == "group-axis" and any("shifts" in run for run in runs):
        points = results.group_axis_points(runs)
        shifts = {results.SHIFT_LABELS.get(name, name): [results.axis_shift_values(p, name) for p in points]
                  for name in results.GROUP_AXIS_SHIFTS}
        shifts["mean of the shifts"] = [results.axis_shift_average(p) for p in points]
        return plots.plot_group_axis(points, shifts, plan.epochs)
    if plan.study == "l1" and any("kernel_norms" in run for run in runs):
        return plots.plot_l1(runs)
    return None


def accuracy_with_batch_statistics(network, images, labels, batch_size):
    """Test accuracy when every BN layer normalizes with the statistics of its test batch (see shift.py)."""
    return shift.accuracy(shift.predict_with_batch_statistics(network, images, batch_size), labels)


def bn_test_time(plan, test_split):
    """Batch-size study: BN models evaluated with moving averages and with test-batch statistics."""
    images, labels = test_split
    rows = []
    sizes = sorted(int(v) for v in dict(plan.axes)["batch-size"])
    for batch_size in sorted({sizes[0], plan.base_batch_size} & set(sizes)):
        run_dir = rundir.run_dir_for(plan.output_dir, "bn", plan.seeds[0], setting=(("batch-size", batch_size),))
        if not os.path.exists(rundir.file(run_dir, "model")):
            continue
        network = rundir.load_trained_model(run_dir)
        row = {"trained_batch_size": batch_size, "seed": plan.seeds[0],
               "moving_averages": shift.accuracy(model_lib.predict_probabilities(network, images), labels),
               "batch_statistics": {}}
        for test_batch in plan.test_time_batches:
            if test_batch > len(images):
                continue
            row["batch_statistics"][str(test_batch)] = accuracy_with_batch_statistics(network, images, labels,
                                                                                      test_batch)
            print(f"bn trained at batch {batch_size}: test batch {test_batch}, batch statistics: "
                  f"{100 * row['batch_statistics'][str(test_batch)]:.2f}%")
        print(f"bn trained at batch {batch_size}: moving averages: {100 * row['moving_averages']:.2f}%")
        rows.append(row)
    payload = {"test_images": len(images), "models": rows}
    path = os.path.join(plan.output_dir, "bn_test_time.json")
    if not rows and os.path.exists(path):
        # Models are not committed: a clone that reruns the finished sweep keeps the table their run wrote.
        print(f"no BN model.keras in {plan.output_dir} to evaluate; {path} left as it was")
        return rundir.read_json(path)
    rundir.write_json(path, payload)
    return payload


def clock(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


def run(plan):
    first = plan.points[0].config
    strategy = training.configure(first)
    splits = training.load_splits(first)
    runs, environments, trained, started, training_seconds = [], [], 0, time.perf_counter(), 0.0
    # A group-axis point's shifts, measured when its run was last summarized: a run not retrained is not
    # re-evaluated (the same numbers, and a rerun of a finished sweep writes nothing).
    measured = {row.get("run_dir"): row for row in (rundir.read_summary(plan.output_dir) or {}).get("runs", [])}
    previous = earlier_environment(plan.output_dir)  # read once: the summary is rewritten after every point
    total = len(plan.points)
    for k, point in enumerate(plan.points, 1):
        print(f"point {k} of {total}: {point.describe()} ({plan.epochs} epochs, peak lr {point.config.lr:.5g}) "
              f"-> {point.run_dir}", flush=True)
        point_started = time.perf_counter()
        row, was_trained = run_point(point, splits, strategy)
        environments.append(row.pop("environment") or reused_environment(plan, point))
        if plan.study == "group-axis" and not row["diverged"]:
            earlier = measured.get(os.path.relpath(point.run_dir))
            row.update({key: earlier[key] for key in GROUP_AXIS_KEYS} if earlier and not was_trained
                       and all(key in earlier for key in GROUP_AXIS_KEYS) else group_axis_row(point, splits))
        runs.append(row)
        if was_trained:  # a killed sweep keeps what it finished; a rerun of a finished one writes nothing
            write_summary(plan, runs, splits.source, environments, previous)
        if was_trained:
            trained += 1
            training_seconds += time.perf_counter() - point_started
        left = training_seconds / trained * (total - k) if trained else float("nan")
        outcome = ("" if was_trained else "already finished; ") + (
            f"diverged in epoch {row['diverged_epoch']}" if row["diverged"]
            else f"accuracy {100 * row['final_accuracy']:.2f}%")
        print(f"point {k} of {total}: {point.describe()}: {outcome} | elapsed {clock(time.perf_counter() - started)}"
              + (f", about {clock(left)} left" if math.isfinite(left) and k < total else ""), flush=True)
    write_summary(plan, runs, splits.source, environments, previous)  # unchanged bytes leave the file as it was
    if plan.study == "batch-size" and "bn" in plan.norms and "batch-size" in dict(plan.axes):
        bn_test_time(plan, splits.evaluation)
    return 0
