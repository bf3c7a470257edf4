"""Training as a library: one function trains one run from a validated configuration.

    config = training.TrainConfig(norm="gn", epochs=2).validate()   # ConfigError names a bad value; no side effects
    splits = training.load_splits(config)
    result = training.train_run(config, splits, run_dir)            # resumes, or reuses a finished run

train.py's flags (`flag_parser`, `configs`) and its work (`train_all`) live here too: sweep.py and benchmark.py
read a recipe with the same flags. Every command that trains builds a `TrainConfig` and calls this module. A run's folder and files are rundir.py's; what the run writes:
    history.csv and kernels.json after every epoch (atomically), a backup to resume from, then model.keras,
    the SavedModel (export=True), and result.json, which marks the run finished.
A run resumes exactly from its last finished epoch (epoch k's batches depend on (seed, k) only).
"""

import dataclasses
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

from . import data as data_lib  # noqa: E402
from . import machine  # noqa: E402
from . import network as model_lib  # noqa: E402
from . import plots  # noqa: E402
from . import rundir  # noqa: E402
from . import variants  # noqa: E402

MISCLASSIFIED_SHOWN = 10
OPTIMIZERS = ("adam", "sgd")
STRATEGIES = ("default", "mirrored")
# Augmentation's settings and their upper bounds (exclusive).
AUGMENT_LIMITS = {"rotation": 180, "shift": 14, "zoom": 1, "shear": 1}
# Errors of a full disk or a file-size limit: one line naming the folder, not a traceback.
NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class ConfigError(ValueError):
    """A setting that is not allowed; the message names the flag, the value and what is allowed."""


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


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run is made of. Field names are train.py's flags (`batch_size`: --batch-size)."""

    norm: str = "bn"
    seed: int = 1
    epochs: int = 20
    batch_size: int = 128  # per replica
    data: str = "bundled"
    data_dir: typing.Optional[str] = None
    output_dir: str = "outputs"
    train_limit: typing.Optional[int] = None
    test_limit: typing.Optional[int] = None
    validation_size: int = 0
    l1: float = model_lib.DEFAULT_L1
    groups: int = model_lib.DEFAULT_GROUPS
    group_size: typing.Optional[int] = None  # gn: channels per group instead of a number of groups
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 0.01
    warmup_fraction: float = 0.2
    ema: float = 0.0
    architecture: str = model_lib.architecture_spec(model_lib.ARCHITECTURE)
    augment: bool = True
    rotation: float = 7.0
    shift: float = 2.0
    zoom: float = 0.0
    shear: float = 0.0
    force: bool = False
    deterministic: bool = False
    mixed_precision: bool = False
    xla: bool = False
    strategy: str = "default"
    steps_per_execution: int = 1
    verbose: int = 1

    @classmethod
    def field_types(cls):
        """{field: the type its value is read as (int, float, str or bool)}, for settings given as text."""
        types = {}
        for name, hint in typing.get_type_hints(cls).items():
            types[name] = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        return types

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def network(self):
        return model_lib.parse_architecture(self.architecture)

    def validate(self):
        """Returns the config if every setting is allowed, else raises ConfigError. Writes nothing."""
        def flag(name):
            return f"--{name.replace('_', '-')}"

        if self.norm not in variants.ALL_NORMS:
            raise ConfigError(f"--norm {self.norm!r}: expected one of {', '.join(variants.ALL_NORMS)}")
        for name in ("epochs", "batch_size", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{flag(name)} must be >= 1; received {getattr(self, name)}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{flag(name)} must be >= 1; received {value}")
        if self.data not in data_lib.SOURCES:
            raise ConfigError(f"--data {self.data!r}: expected one of {', '.join(data_lib.SOURCES)}")
        if self.data_dir is not None and self.data != "bundled":
            raise ConfigError(f"--data {self.data} and --data-dir {self.data_dir!r} name two sources; give one")
        if self.validation_size < 0:
            raise ConfigError(f"--validation-size must be >= 0; received {self.validation_size}")
        if not (self.l1 >= 0 and math.isfinite(self.l1)):
            raise ConfigError(f"--l1 must be a finite number >= 0; received {self.l1}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1); received {self.dropout}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer {self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--lr must be > 0; received {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"--warmup-fraction must be in [0, 1); received {self.warmup_fraction}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"--ema must be in [0, 1) (0: off); received {self.ema}")
        try:
            network = self.network
        except ValueError as error:
            raise ConfigError(f"--architecture: {error}") from None
        for name, upper in AUGMENT_LIMITS.items():
            value = getattr(self, name)
            if not 0 <= value < upper:
                raise ConfigError(f"--{name} must be in [0, {upper}); received {value}")
        if self.group_size is not None:
            if self.norm != "gn":
                raise ConfigError(f"--group-size applies to --norm gn only; received --norm {self.norm}")
            if self.groups != model_lib.DEFAULT_GROUPS:
                raise ConfigError(f"--groups {self.groups} and --group-size {self.group_size} both set the groups; "
                                  "give one")
            for spec in network:
                if self.group_size < 1 or spec.filters % self.group_size:
                    allowed = [str(g) for g in range(1, min(s.filters for s in network) + 1)
                               if all(s.filters % g == 0 for s in network)]
                    raise ConfigError(f"--group-size {self.group_size} does not divide the {spec.filters} channels "
                                      f"of layer {spec.name}; allowed: {', '.join(allowed)}")
        elif self.norm == "gn":
            channels = sorted({spec.filters for spec in network})
            if self.groups < 1 or any(c % self.groups for c in channels):
                allowed = [str(g) for g in range(1, channels[0] + 1) if all(c % g == 0 for c in channels)]
                raise ConfigError(f"--groups {self.groups} does not divide the channel counts {channels}; "
                                  f"allowed: {', '.join(allowed)}")
        if not 0 <= self.seed < 2**31:
            raise ConfigError(f"--seed must be in [0, {2**31 - 1}]; received {self.seed}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy {self.strategy!r}: expected one of {', '.join(STRATEGIES)}")
        if self.verbose not in (0, 1, 2):
            raise ConfigError(f"--verbose {self.verbose!r}: expected 0, 1 or 2")
        return self

    def augmentation(self):
        """The `data.augmenter` arguments of a run, or False without augmentation."""
        if not self.augment:
            return False
        return {"rotation_degrees": self.rotation, "shift_pixels": self.shift, "zoom": self.zoom,
                "shear": self.shear}

    def precision_policy(self):
        """float32, or mixed_float16 on GPU / mixed_bfloat16 on CPU with --mixed-precision."""
        if not self.mixed_precision:
            return "float32"
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"

    def record(self, data_source):
        """What determines a run's result (its config.json); a finished run is reused only if this matches."""
        return {
            "norm": self.norm, "seed": self.seed, "epochs": self.epochs, "batch_size": self.batch_size,
            "optimizer": self.optimizer, "lr": self.lr, "warmup_fraction": self.warmup_fraction,
            "l1": self.l1 if self.norm == "bn" else None, "groups": self.groups if self.norm == "gn" and self.group_size is None else None,
            "architecture": model_lib.architecture_spec(self.network),
            "dropout": self.dropout, "augment": self.augmentation(), "train_limit": self.train_limit,
            "test_limit": self.test_limit, "validation_size": self.validation_size, "data": data_source,
            "mixed_precision": self.mixed_precision, "strategy": self.strategy,
            "deterministic": self.deterministic,
            # Recorded only when on, so that the configs of runs made before the setting existed still match.
            **({"ema": self.ema} if self.ema else {}),
            **({"group_size": self.group_size} if self.group_size is not None else {}),
        }


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


def train_run(config, splits, run_dir, strategy=None, export=True):
    """Trains the run of `config` in `run_dir`: resumes it from its last finished epoch, or reuses it when it finished
    with the same settings (unless config.force). Returns (its result, whether it trained now).

    splits: `load_splits(config)`. `export=False` skips the SavedModel (studies
    of many runs keep only model.keras). Raises TrainingDiverged on a NaN loss (the run starts afresh next time)
    and NoSpace when the folder cannot be written for lack of space (the finished epochs are kept).
    """
    record = config.record(splits.source)
    if prepare_run_dir(run_dir, record, config.force):
        return rundir.read_json(rundir.file(run_dir, "result")), False
    try:
        return _fit(config, splits, run_dir, record, strategy or tf.distribute.get_strategy(), export), True
    except NoSpace:
        raise
    except OSError as error:
        if error.errno in NO_SPACE:
            raise NoSpace(run_dir) from error
        raise


def _fit(config, splits, run_dir, record, strategy, export):
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
    train_batches = data_lib.TrainingBatches(*train, global_batch, seed=seed, augment=config.augmentation())
    eval_ds = data_lib.make_dataset(*evaluation, 1000)
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
    model.fit(train_batches.dataset, epochs=config.epochs, validation_data=eval_ds, callbacks=callbacks,
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
        "environment": machine.environment(),
    }
    rundir.write_json(rundir.file(run_dir, "result"), result)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return result


def _stale(run_dir, record):
    """Whether `run_dir` holds a config.json of other settings than `record`."""
    config_path = rundir.file(run_dir, "config")
    return os.path.exists(config_path) and rundir.read_json(config_path) != record


def finished(config, run_dir, data_source):
    """Whether `run_dir` holds a finished run of `config` that train_run would reuse."""
    return not config.force and not _stale(run_dir, config.record(data_source)) and rundir.is_finished(run_dir)


def prepare_run_dir(run_dir, record, force):
    """Returns True if `run_dir` already holds a finished run of `record` (a config.json, to be reused)."""
    if os.path.exists(run_dir):
        stale = _stale(run_dir, record)
        if force or stale:
            if stale and not force:
                print(f"{run_dir}: settings changed since the last run; starting it afresh.")
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
    previous = rundir.read_summary(output_dir)
    previous = previous and {key: previous[key] for key in ("versions", "machine") if key in previous}
    environment = machine.of_runs([run.get("environment") for runs in results.values() for run in runs], previous)
    summary = {"variants": variants, **environment}
    rundir.write_json(rundir.summary_path(output_dir), summary)
    return summary


def write_figures(output_dir, results, eval_images):
    """Joint curves (when more than one variant has a history; the mean and spread of all seeds) and
    misclassified grids (the first seed's model)."""
    # The control joins the figures only when it was trained alone: the graphs and grids are the three's.
    if any(norm in results for norm in variants.NORMS):
        results = {norm: runs for norm, runs in results.items() if norm in variants.NORMS}
    first = {norm: runs[0] for norm, runs in results.items()}
    labels = {norm: model_lib.variant_label(norm, run["config"]) for norm, run in first.items()}
    if len(first) > 1:
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


# ----------------------------------------------------------------------------- train.py's flags and runs


ALL = "all"


DEFAULTS = TrainConfig()  # every flag's default is the configuration's


def flag_parser(prog="train.py", description="Trains the MNIST CNN and writes histories, models and figures."):
    """train.py's flags, every default the configuration's (sweep.py and benchmark.py parse a recipe with it)."""
    parser = rundir.Parser(prog=prog, description=description)
    parser.add_argument("--norm", default=ALL, choices=(*variants.ALL_NORMS, ALL),
                        help="variant(s) to train; all: bn, gn and ln (none, the control, only by name)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="per replica")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--seeds", type=int, nargs="+", help="several seeds; runs go to <norm>/seed-<k>/")
    parser.add_argument("--data", choices=data_lib.SOURCES, default=DEFAULTS.data,
                        help="bundled: the checksum-guarded IDX files in data/mnist/ (offline); "
                             "tfds: tensorflow-datasets (its cache, or a download)")
    parser.add_argument("--data-dir", help="folder with the 4 MNIST IDX files (.gz or not); replaces --data")
    parser.add_argument("--output-dir", default=DEFAULTS.output_dir)
    parser.add_argument("--train-limit", type=int, help="use only the first N training images")
    parser.add_argument("--test-limit", type=int, help="use only the first N test images")
    parser.add_argument("--validation-size", type=int, default=DEFAULTS.validation_size,
                        help="hold out the last N training images and evaluate on them instead of the test set "
                             "(for choosing the recipe; the test set is then never touched)")
    # Given only for the norms they apply to (an error otherwise); their defaults are the configuration's.
    parser.add_argument("--l1", type=float, help=f"L1 factor on conv kernels (bn only; default {DEFAULTS.l1:g})")
    parser.add_argument("--groups", type=int, help=f"groups for gn (default {DEFAULTS.groups})")
    parser.add_argument("--group-size", type=int,
                        help="gn: channels per group in every layer instead of a number of groups (1: IN)")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="peak learning rate")
    parser.add_argument("--warmup-fraction", type=float, default=DEFAULTS.warmup_fraction,
                        help="fraction of all steps spent warming the learning rate up (then cosine to zero)")
    parser.add_argument("--ema", type=float, default=DEFAULTS.ema, metavar="MOMENTUM",
                        help="evaluate and export an exponential moving average of the weights with this "
                             "momentum, e.g. 0.999 (Keras' use_ema); 0: off")
    parser.add_argument("--architecture", default=DEFAULTS.architecture,
                        help="conv blocks as <filters>[k<kernel>][p],... (p: 2x2 max-pool after it); "
                             "default: %(default)s")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--rotation", type=float, default=DEFAULTS.rotation, help="augmentation: max rotation, degrees")
    parser.add_argument("--shift", type=float, default=DEFAULTS.shift, help="augmentation: max shift, pixels")
    parser.add_argument("--zoom", type=float, default=DEFAULTS.zoom, help="augmentation: scale by 1 +- up to this")
    parser.add_argument("--shear", type=float, default=DEFAULTS.shear, help="augmentation: shear factor up to this")
    parser.add_argument("--force", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU (mixed_bfloat16 on CPU); logits stay float32")
    parser.add_argument("--xla", action="store_true", help="compile train/eval steps with XLA")
    parser.add_argument("--strategy", choices=STRATEGIES, default=DEFAULTS.strategy,
                        help="mirrored: tf.distribute.MirroredStrategy over the visible GPUs")
    parser.add_argument("--steps-per-execution", type=int, default=DEFAULTS.steps_per_execution)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=DEFAULTS.verbose, help="Keras fit verbosity")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    return parser


# The flags that set one norm's own settings: given for other norms only, they would be ignored.
NORM_FLAGS = {"l1": "bn", "groups": "gn", "group_size": "gn"}


def flag_settings(args, norms):
    """TrainConfig's fields from parsed flags, a flag left out taking the configuration's default. Raises
    ConfigError for a norm's own flag (--l1, --groups, --group-size) when no variant in `norms` uses it."""
    settings = {}
    for name in TrainConfig.field_types():
        if not hasattr(args, name):
            continue
        value = getattr(args, name)
        if name in NORM_FLAGS and value is not None and NORM_FLAGS[name] not in norms:
            raise ConfigError(f"--{name.replace('_', '-')} {value:g} applies to --norm {NORM_FLAGS[name]} only; "
                              f"received --norm {', '.join(norms)}")
        settings[name] = getattr(DEFAULTS, name) if name in NORM_FLAGS and value is None else value
    return settings


def configs(args):
    """One validated TrainConfig per (variant, seed) the flags ask for, variants first."""
    norms = variants.NORMS if args.norm == ALL else (args.norm,)
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]
    settings = flag_settings(args, norms)
    return [TrainConfig(**{**settings, "norm": norm, "seed": seed}).validate()
            for norm in norms for seed in seeds]


def train_all(configs):
    """train.py's work: trains every config's run (each in <output-dir>/<norm>/[seed-<k>/]), then writes the
    summary and figures. Returns the command's exit code (1 when a run diverged)."""
    first = configs[0]
    strategy = configure(first)
    splits = load_splits(first)
    several = len({config.seed for config in configs}) > 1
    failures = []
    for config in configs:
        norm, seed = config.norm, config.seed
        run_dir = rundir.run_dir_for(config.output_dir, norm, seed, several)
        if finished(config, run_dir, splits.source):
            print(f"{norm} seed {seed}: already finished in {run_dir} (use --force to retrain)")
            continue
        print(f"{norm} seed {seed}: training {config.epochs} epochs on {len(splits.train[0])} images -> {run_dir}")
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
    results = rundir.collect_results(first.output_dir)
    if results:
        summarize(first.output_dir, results)
        write_figures(first.output_dir, results, splits.evaluation[0])
    return 1 if failures else 0

