"""Training as a library: one function trains one run from a validated configuration.

    config = config.TrainConfig(norm="gn", epochs=2).validate()     # ConfigError names a bad value; no side effects
    splits = training.load_splits(config)
    result = training.train_run(config, splits, run_dir)            # resumes, or reuses a finished run

train.py's work (`train_all`) lives here too; its flags are mnist_norm.config's (`flag_parser`, `configs`), which
sweep.py and benchmark.py read a recipe with. Every command that trains builds a `TrainConfig` and calls this module. A run's folder and files are rundir.py's; what the run writes:
    history.csv and kernels.json after every epoch (atomically), a backup to resume from, then model.keras,
    the SavedModel (export=True), and result.json, which marks the run finished.
A run resumes exactly from its last finished epoch (epoch k's batches depend on (seed, k) only).
"""

import sys
import errno
import json
import math
import os
import shutil
import time
import typing

try:
    import resource  # the file-size limit; not on Windows
except ImportError:
    resource = None

from . import quiet_tf

quiet_tf.start()  # before keras: TensorFlow's C++ start-up lines only with --debug

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from . import config as config_lib  # noqa: E402
from . import data as data_lib  # noqa: E402
from . import machine  # noqa: E402
from . import network as model_lib  # noqa: E402
from . import pipeline  # noqa: E402
from . import plots  # noqa: E402
from . import rundir  # noqa: E402
from . import studies  # noqa: E402
from . import variants  # noqa: E402

MISCLASSIFIED_SHOWN = 10
# Errors of a full disk or a file-size limit: one line naming the folder, not a traceback.
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (in epoch `epoch`)."""

    def __init__(self, message, epoch=None):
        super().__init__(message)
        self.epoch = epoch


class NoSpace(OSError):
    """A run's folder cannot be written: the disk (or the file-size limit, `ulimit -f`) is full."""

    def __init__(self, folder):
        super().__init__(f"no space left to write in {folder} (free some and rerun the same command: the finished "
                         "epochs are kept)")
        self.errno = errno.ENOSPC


def ensure_room(folder, needed):
    """Raises NoSpace, before anything is written, when `folder` has less than `needed` bytes free or this process
    may not write a file that large. Keras writes weights with HDF5, which fails half-way through a write with
    screens of tracebacks and then crashes the process; Python's own writes fail cleanly and need no check."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource else -1
    if shutil.disk_usage(folder).free < needed or 0 <= limit < needed:
        raise NoSpace(folder)


def weights_bytes(model):
    """A generous size of a file holding the model's and its optimizer's variables (HDF5 adds its own headers)."""
    optimizer = getattr(model.optimizer, "variables", []) if model.optimizer else []
    values = sum(int(np.prod(v.shape)) for v in (*model.weights, *optimizer))
    return 8 * values + 256 * 1024


# ----------------------------------------------------------------------------- training


NEAR_ZERO = 1e-3  # |w| below this counts as pruned in kernels.json


def kernel_stats(model):
    """Each conv kernel's L2 norm and fraction of weights with |w| < NEAR_ZERO (and over all conv kernels)."""
    norms, near_zero, kernels = {}, {}, []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.abs(keras.ops.convert_to_numpy(layer.kernel)).ravel()
            norms[layer.name] = float(np.sqrt(np.sum(kernel.astype(np.float64) ** 2)))
            near_zero[layer.name] = float(np.mean(kernel < NEAR_ZERO))
            kernels.append(kernel)
    everything = np.concatenate(kernels)
    return {"kernel_norms": norms, "near_zero": near_zero, "near_zero_all": float(np.mean(everything < NEAR_ZERO))}


class EpochHistory(keras.callbacks.Callback):
    """Rewrites history.csv after every epoch (atomically), one row per epoch.

    Rows at or after the current epoch are dropped first, so an epoch that is
    redone after a resume appears exactly once. Also stops on NaN/inf loss.
    """

    def __init__(self, path, kernels_path=None):
        super().__init__()
        self.path = path
        self.kernels_path = kernels_path
        self.diverged_epoch = None

    def on_train_begin(self, logs=None):
        self.rows = rundir.read_history(self.path) if os.path.exists(self.path) else []
        self.kernel_rows = (rundir.read_json(self.kernels_path)
                            if self.kernels_path and os.path.exists(self.kernels_path) else [])

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {"epoch": epoch + 1}
        for column in rundir.HISTORY_COLUMNS[1:-2]:
            row[column] = float(logs.get(column, float("nan")))
        row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["epoch_seconds"] = round(time.perf_counter() - self.started, 3)
        if not all(math.isfinite(row[c]) for c in ("loss", "val_loss")):
            self.diverged_epoch = epoch + 1
            self.model.stop_training = True
            return
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        rundir.write_history(self.path, self.rows)
        if self.kernels_path:
            stats = {"epoch": epoch + 1, **kernel_stats(self.model)}
            self.kernel_rows = [r for r in self.kernel_rows if r["epoch"] < epoch + 1] + [stats]
            rundir.write_json(self.kernels_path, self.kernel_rows)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup is always complete.

    Keras writes the backup weights in place, so a kill during the first backup (no earlier
    copy to fall back to) left a file that every later resume failed to open. Here the
    weights and the epoch counter are each written beside their target and renamed over
    it, so a kill leaves the previous backup or the new one, never half of one.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, delete_checkpoint=False)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        ensure_room(self.backup_dir, weights_bytes(self.model))
        weights_tmp = os.path.join(self.backup_dir, ".tmp-latest.weights.h5")
        metadata_tmp = os.path.join(self.backup_dir, ".tmp-training_metadata.json")
        self.model.save_weights(weights_tmp, overwrite=True)
        with open(metadata_tmp, "w") as handle:
            handle.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        os.replace(weights_tmp, self._weights_path)
        os.replace(metadata_tmp, self._training_metadata_path)


def make_optimizer(config, steps_per_epoch):
    """SGD/Adam with linear warm-up then cosine decay to zero at the last step."""
    total = steps_per_epoch * config.epochs
    warmup = int(round(config.warmup_fraction * total))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr / 25 if warmup else config.lr,
        decay_steps=max(total - warmup, 1),
        alpha=0.0,
        warmup_target=config.lr if warmup else None,
        warmup_steps=warmup,
    )
    # The moving average covers the trainable weights only; BN's moving statistics stay as trained.
    ema = {"use_ema": True, "ema_momentum": config.ema} if config.ema else {}
    if config.optimizer == "adam":
        return keras.optimizers.Adam(schedule, **ema)
    return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, **ema)


def compile_model(model, config, steps_per_epoch):
    """Optimizer, loss and metrics of every training run (benchmark.py times the same)."""
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Plain cross-entropy beside `loss`, which for BN also holds the L1 penalty.
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
        ],
        steps_per_execution=config.steps_per_execution,
        jit_compile=config.xla,
    )


def top_mistakes(probabilities, labels, count=MISCLASSIFIED_SHOWN):
    """The `count` most confident mistakes (ties by test index): deterministic for a model."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    order = wrong[np.lexsort((wrong, -confidence))][:count]
    return [
        {"index": int(i), "true": int(labels[i]), "predicted": int(predicted[i]),
         "probability": round(float(probabilities[i, predicted[i]]), 4)}
        for i in order
    ]


def train_run(config, splits, run_dir, strategy=None, export=True, stop_after=None):
    """Trains the run of `config` in `run_dir`: resumes it from its last finished epoch, or reuses it when it finished
    with the same settings (unless config.force). Returns (its result, whether it trained now).

    splits: `load_splits(config)`. `export=False` skips the SavedModel (studies
    of many runs keep only model.keras). `stop_after`: train only the first epochs of the run, under the learning
    rate schedule of all its epochs (reproduce.py --check: the start of a long run, as it went). Raises TrainingDiverged on a NaN loss (the run starts afresh next time)
    and NoSpace when the folder cannot be written for lack of space (the finished epochs are kept).
    """
    record = config.record(splits.source)
    if prepare_run_dir(config, run_dir, splits.source):
        return rundir.read_json(rundir.file(run_dir, "result")), False
    try:
        return _fit(config, splits, run_dir, record, strategy or tf.distribute.get_strategy(), export,
                    stop_after), True
    except NoSpace:
        raise
    except OSError as error:
        if error.errno in NO_SPACE:
            raise NoSpace(run_dir) from error
        raise


def _fit(config, splits, run_dir, record, strategy, export, stop_after=None):
    norm, seed = config.norm, config.seed
    train, evaluation, _ = splits
    keras.backend.clear_session()  # fresh graph and layer names for every run
    keras.mixed_precision.set_global_policy(config.precision_policy())  # after: clear_session resets it
    keras.utils.set_random_seed(seed)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    steps_per_epoch = math.ceil(len(train[0]) / global_batch)
    with strategy.scope():
        model = model_lib.build_model(
            norm, l1_strength=config.l1, groups=config.groups, group_size=config.group_size, dropout=config.dropout,
            synchronized=replicas > 1, architecture=config.network,
        )
        compile_model(model, config, steps_per_epoch)
    train_batches = pipeline.TrainingBatches(*train, global_batch, seed=seed, augment=config.augmentation())
    eval_ds = pipeline.make_dataset(*evaluation, 1000)
    history_cb = EpochHistory(rundir.file(run_dir, "history"), rundir.file(run_dir, "kernels"))
    backup_dir = rundir.file(run_dir, "backup")
    tensorboard = rundir.tensorboard_dir(config.output_dir, run_dir)
    if not os.path.isdir(backup_dir):  # training starts at epoch 1 (new, forced or changed): so do its curves
        shutil.rmtree(tensorboard, ignore_errors=True)
    callbacks = [
        train_batches.callback(),  # epoch k's batches depend on (seed, k) only: resumes are exact
        history_cb,  # before the backup: a saved epoch always has its history row
        # Logged per epoch with the epoch as step, so a resumed run continues its curves.
        keras.callbacks.TensorBoard(tensorboard, write_graph=False),
        AtomicBackupAndRestore(backup_dir),
        keras.callbacks.TerminateOnNaN(),
    ]
    if config.ema:
        # Swapped in for every evaluation (the history's val_* columns) and swapped back for training and backups.
        callbacks.insert(1, keras.callbacks.SwapEMAWeights())
    started = time.perf_counter()
    epochs = min(stop_after or config.epochs, config.epochs)  # the schedule (make_optimizer) spans config.epochs
    model.fit(train_batches.dataset, epochs=epochs, validation_data=eval_ds, callbacks=callbacks,
              verbose=config.verbose, shuffle=False)
    if history_cb.diverged_epoch is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)  # its weights are NaN: a rerun must start afresh
        raise TrainingDiverged(f"{norm} (seed {seed}): loss became NaN/inf in epoch {history_cb.diverged_epoch}",
                               history_cb.diverged_epoch)
    rows = rundir.read_history(rundir.file(run_dir, "history"))
    if config.ema:
        model.optimizer.finalize_variable_values(model.trainable_variables)  # export the averaged weights
    ensure_room(run_dir, 2 * weights_bytes(model))  # model.keras and the SavedModel
    rundir.atomic_write(rundir.file(run_dir, "model"), model.save)
    if export:
        rundir.atomic_write(rundir.file(run_dir, "saved_model"),
                            lambda tmp: model_lib.probability_model(model).export(tmp, verbose=False))
    probabilities = model_lib.predict_probabilities(model, evaluation[0])
    best = max(rows, key=lambda row: row["val_accuracy"])
    result = {
        "norm": norm,
        "seed": seed,
        "evaluated_on": "validation" if config.validation_size else "test",
        "trainable_params": model_lib.trainable_params(model),
        "replicas": replicas,
        "global_batch_size": global_batch,
        "precision": config.precision_policy(),
        "epochs": len(rows),
        "final_accuracy": rows[-1]["val_accuracy"],
        "final_ce": rows[-1]["val_ce"],
        "best_accuracy": best["val_accuracy"],
        "best_epoch": best["epoch"],
        "train_seconds": round(sum(row["epoch_seconds"] for row in rows), 1),
        "mean_epoch_seconds": round(float(np.mean([row["epoch_seconds"] for row in rows])), 2),
        "wall_seconds_this_session": round(time.perf_counter() - started, 1),
        "misclassified": top_mistakes(probabilities, evaluation[1]),
        "config": record,
        # What the run's timings were measured on: a summary written later, elsewhere, keeps them.
        "environment": machine.environment(with_threads=True),
    }
    rundir.write_json(rundir.file(run_dir, "result"), result)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return result


def prepare_run_dir(config, run_dir, source):
    """Returns True if `run_dir` already holds a finished run of `config` (a config.json, to be reused). A run of
    other settings there is never replaced unless config.force: RunConflict says so, and nothing changes."""
    record = config.record(source)
    if os.path.exists(run_dir):
        message = config_lib.conflict(config, run_dir, source)
        if message:
            raise config_lib.RunConflict(message)
        if config.force:
            shutil.rmtree(run_dir)
        elif rundir.is_finished(run_dir):
            return True
    os.makedirs(run_dir, exist_ok=True)
    for name in os.listdir(run_dir):  # leftovers of a write that was cut off
        if name.startswith((".tmp-", ".old-")):
            path = os.path.join(run_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    rundir.write_json(rundir.file(run_dir, "config"), record)
    return False


# ----------------------------------------------------------------------------- summary


def summarize(output_dir, results):
    """summary.json: per variant, per seed and mean/std figures, plus versions and machine."""
    variants = {}
    for norm, runs in results.items():
        entry = {"trainable_params": runs[0]["trainable_params"], "evaluated_on": runs[0]["evaluated_on"]}
        for key in ("final_accuracy", "final_ce", "best_accuracy", "mean_epoch_seconds", "train_seconds"):
            values = np.array([run[key] for run in runs], dtype=float)
            entry[f"{key}_mean"] = round(float(values.mean()), 6)
            entry[f"{key}_std"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 6)
        entry["runs"] = [
            {k: v for k, v in run.items() if k not in ("misclassified", "config", "run_dir", "environment")}
            for run in runs
        ]
        entry["config"] = {k: v for k, v in runs[0]["config"].items() if k != "seed"}
        variants[norm] = entry
    previous = machine.unrecorded(rundir.read_summary(output_dir))
    environment = machine.of_runs([run.get("environment") for runs in results.values() for run in runs], previous)
    summary = {"variants": variants, **environment}
    rundir.write_json(rundir.summary_path(output_dir), summary)
    return summary


def write_figures(output_dir, results, eval_images, missing_only=False):
    """Joint curves (when more than one variant has a history; the mean and spread of all seeds) and
    misclassified grids (the first seed's model). `missing_only`: draw only the figures the folder lacks (its runs and
    summary unchanged, another Matplotlib would redraw the same figures in other bytes)."""
    def wanted(name):
        return not (missing_only and os.path.exists(os.path.join(output_dir, name)))

    # The variants after GN beside the ones they rework: a figure of their own (the study's graphs are the three's).
    after = {norm: runs for norm, runs in results.items() if norm in studies.AFTER_GN_NORMS}
    if set(after) - set(variants.NORMS) and len(after) > 1 and wanted("test_accuracy_after_gn.png"):
        histories = {norm: [rundir.read_history(rundir.file(run["run_dir"], "history")) for run in runs]
                     for norm, runs in after.items()}
        labels = {norm: model_lib.variant_label(norm, runs[0]["config"]) for norm, runs in after.items()}
        rundir.save_figure(plots.plot_test_accuracy(histories, labels, split=next(iter(after.values()))[0][
            "evaluated_on"]), os.path.join(output_dir, "test_accuracy_after_gn.png"))
    # The control joins the figures only when it was trained alone: the graphs and grids are the three's.
    if any(norm in results for norm in variants.NORMS):
        results = {norm: runs for norm, runs in results.items() if norm in variants.NORMS}
    first = {norm: runs[0] for norm, runs in results.items()}
    labels = {norm: model_lib.variant_label(norm, run["config"]) for norm, run in first.items()}
    if len(first) > 1 and (wanted("test_loss.png") or wanted("test_accuracy.png")):
        histories = {norm: [rundir.read_history(rundir.file(run["run_dir"], "history")) for run in runs]
                     for norm, runs in results.items()}
        split = next(iter(first.values()))["evaluated_on"]
        rundir.save_figure(plots.plot_test_loss(histories, labels, split=split),
                           os.path.join(output_dir, "test_loss.png"))
        rundir.save_figure(plots.plot_test_accuracy(histories, labels, split=split),
                           os.path.join(output_dir, "test_accuracy.png"))
    for norm, run in first.items():
        if eval_images is None or any(m["index"] >= len(eval_images) for m in run["misclassified"]):
            continue
        if not wanted(f"misclassified_{norm}.png"):
            continue
        title = (f"{labels[norm]}: misclassified {run['evaluated_on']} images, most confident first\n"
                 f"seed {run['seed']}, {run['evaluated_on']} accuracy {100 * run['final_accuracy']:.2f}%")
        rundir.save_figure(plots.plot_misclassified(eval_images, run["misclassified"], title),
                           os.path.join(output_dir, f"misclassified_{norm}.png"))


# ----------------------------------------------------------------------------- set-up


def configure(config):
    """Global TF/Keras settings; returns the distribution strategy."""
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.strategy == "mirrored":
        # All GPUs; on a machine without any, all logical CPU devices (normally one:
        # tests split the CPU into two to exercise the multi-replica path).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


class Splits(typing.NamedTuple):
    """A run's data: (images, labels) to train on, (images, labels) to evaluate on (the test set, or the validation
    split), and the data source's name (what config.json records)."""

    train: tuple
    evaluation: tuple
    source: str


def load_splits(config):
    """The `Splits` of a config: evaluation is the test set, or the validation split."""
    train, test = data_lib.load_mnist(config.data, config.data_dir)
    if config.validation_size:
        train, test = data_lib.split_validation(train, config.validation_size)
    for name, split in (("train", train), ("test", test)):
        limit = getattr(config, f"{name}_limit")
        if limit is not None and limit > len(split[0]):
            print(f"notice: --{name}-limit {limit} is larger than the {len(split[0])} available; using all.")
    train = tuple(a[: config.train_limit] for a in train)
    test = tuple(a[: config.test_limit] for a in test)
    return Splits(train, test, data_lib.source_name(config.data, config.data_dir))


# ----------------------------------------------------------------------------- train.py's runs


def _recipe(record):
    """A run's record less its norm, seed and the variants' own settings: runs that differ only in those share a
    summary as variants."""
    own = ("norm", "seed", *variants.SETTINGS)  # read now: a registered variant may bring settings of its own
    return {key: value for key, value in record.items() if key not in own}


def summarized_runs(found, pairs, source):
    """The runs of `found` (rundir.collect_results) that one summary may hold beside the command's own `pairs`
    ((config, run folder)): a norm the command trains keeps only its runs of the command's settings, another norm
    only runs of the same recipe; a seed found twice (<norm>/ and <norm>/seed-<k>/) is the command's folder.
    Returns (the runs kept by norm, the folders left out)."""
    asked = {config.norm: config.record(source) for config, _ in pairs}
    recipe = _recipe(next(iter(asked.values())))
    own = {run_dir for _, run_dir in pairs}
    kept, left_out = {}, []
    for norm, runs in found.items():
        wanted = asked.get(norm)
        by_seed = {}
        for run in runs:
            record = run.get("config", {})
            same = ({**record, "seed": None} == {**wanted, "seed": None} if wanted is not None
                    else _recipe(record) == recipe)
            if not same:
                left_out.append(run["run_dir"])
            elif run["seed"] not in by_seed or run["run_dir"] in own:
                by_seed[run["seed"]] = run
        if by_seed:
            kept[norm] = [by_seed[seed] for seed in sorted(by_seed)]
    return kept, left_out


def train_all(configs):
    """train.py's work: trains every config's run (each in <output-dir>/<norm>/[seed-<k>/]), then writes the
    summary and figures of the folder's runs of the same settings. A folder holding a run of other settings stops
    it before anything is written (config.RunConflict). Returns the command's exit code (1 when a run diverged)."""
    first = configs[0]
    pairs = config_lib.run_dirs(configs)
    config_lib.check_folders(pairs)
    strategy = configure(first)
    splits = load_splits(first)
    failures, trained_now = [], False
    for config, run_dir in pairs:
        norm, seed = config.norm, config.seed
        if config_lib.finished(config, run_dir, splits.source):
            print(f"{norm} seed {seed}: already finished in {run_dir} (use --force to retrain)")
            continue
        print(f"{norm} seed {seed}: training {config.epochs} epoch{'' if config.epochs == 1 else 's'} on "
              f"{len(splits.train[0]):,} images -> {run_dir}")
        trained_now = True
        try:
            result, _ = train_run(config, splits, run_dir, strategy)
        except TrainingDiverged as error:
            print(f"error: {error}; keeping the other variants' results", file=sys.stderr)
            failures.append(str(error))
            continue
        print(
            f"{norm} seed {seed}: {result['evaluated_on']} accuracy {100 * result['final_accuracy']:.2f}% "
            f"(best {100 * result['best_accuracy']:.2f}% at epoch {result['best_epoch']}), "
            f"ce {result['final_ce']:.4f}, {result['trainable_params']} params, "
            f"{result['mean_epoch_seconds']:.1f} s/epoch"
        )
    results, left_out = summarized_runs(rundir.collect_results(first.output_dir), pairs, splits.source)
    if left_out:
        print(f"the summary leaves out {len(left_out)} run{'' if len(left_out) == 1 else 's'} of other settings: "
              f"{', '.join(left_out)}")
    if results:
        before = rundir.read_summary(first.output_dir)
        summary = summarize(first.output_dir, results)
        unchanged = not trained_now and summary == before
        write_figures(first.output_dir, results, splits.evaluation[0], missing_only=unchanged)
    return 1 if failures else 0
