"""Trains the MNIST CNN with BN + L1, GN and/or LN and writes histories, models and figures.

    python train.py                                   # all three, 20 epochs, the bundled MNIST (offline)
    python train.py --data tfds                       # MNIST through tensorflow-datasets instead
    python train.py --data-dir DIR                    # any folder of the 4 MNIST IDX files
    python train.py --norm gn --epochs 2 --train-limit 2000 --test-limit 500
    python train.py --norm none --seeds 1 2 3         # the control without normalization (not part of "all")

Layout of --output-dir (default outputs/), for one seed:
    <norm>/history.csv       one row per finished epoch (rewritten atomically each epoch)
    <norm>/model.keras       the trained Keras model
    <norm>/saved_model/      SavedModel: raw 0-255 pixels (batch, 28, 28, 1) -> 10 probabilities
    <norm>/result.json       this run's numbers; its presence marks the run as finished
    <norm>/kernels.json      per epoch, each conv kernel's L2 norm and fraction of weights with |w| < 1e-3
    tensorboard/<norm>/      TensorBoard logs: `tensorboard --logdir <output-dir>/tensorboard`
    summary.json, test_loss.png, test_accuracy.png, misclassified_<norm>.png
With several seeds (--seeds 1 2 3) each run lives in <norm>/seed-<k>/ instead; the curves then show the
mean over seeds with a band from the lowest to the highest seed, the grids the first seed's model.

Killing the script and rerunning the same command resumes each unfinished run from its
last completed epoch and skips finished ones (--force retrains).
"""

import json
import math
import os
import shutil
import sys
import time

import quiet_tf  # noqa: E402

quiet_tf.start()  # before keras: TensorFlow's C++ start-up lines only with --debug

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import data as data_lib  # noqa: E402
import model as model_lib  # noqa: E402
import plots  # noqa: E402
import rundir  # noqa: E402

ALL = "all"
MISCLASSIFIED_SHOWN = 10


class UsageError(ValueError):
    """A command-line value that is not allowed (exit status 2)."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (in epoch `epoch`)."""

    def __init__(self, message, epoch=None):
        super().__init__(message)
        self.epoch = epoch


# ----------------------------------------------------------------------------- CLI


def build_parser():
    parser = rundir.Parser(prog="train.py", description=__doc__.split("\n")[0])
    parser.add_argument("--norm", default=ALL, choices=(*model_lib.ALL_NORMS, ALL),
                        help="variant(s) to train; all: bn, gn and ln (none, the control, only by name)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128, help="per replica")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", help="several seeds; runs go to <norm>/seed-<k>/")
    parser.add_argument("--data", choices=data_lib.SOURCES, default="bundled",
                        help="bundled: the checksum-guarded IDX files in data/mnist/ (offline); "
                             "tfds: tensorflow-datasets (its cache, or a download)")
    parser.add_argument("--data-dir", help="folder with the 4 MNIST IDX files (.gz or not); replaces --data")
    parser.add_argument("--output-dir", default="outputs")
    parser.add_argument("--train-limit", type=int, help="use only the first N training images")
    parser.add_argument("--test-limit", type=int, help="use only the first N test images")
    parser.add_argument("--validation-size", type=int, default=0,
                        help="hold out the last N training images and evaluate on them instead of the test set "
                             "(for choosing the recipe; the test set is then never touched)")
    parser.add_argument("--l1", type=float, default=model_lib.DEFAULT_L1, help="L1 factor on conv kernels (bn only)")
    parser.add_argument("--groups", type=int, default=model_lib.DEFAULT_GROUPS, help="groups for gn")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="adam")
    parser.add_argument("--lr", type=float, default=0.01, help="peak learning rate")
    parser.add_argument("--warmup-fraction", type=float, default=0.2,
                        help="fraction of all steps spent warming the learning rate up (then cosine to zero)")
    parser.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                        help="evaluate and export an exponential moving average of the weights with this "
                             "momentum, e.g. 0.999 (Keras' use_ema); 0: off")
    parser.add_argument("--architecture", default=model_lib.architecture_spec(model_lib.ARCHITECTURE),
                        help="conv blocks as <filters>[k<kernel>][p],... (p: 2x2 max-pool after it); "
                             "default: %(default)s")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--rotation", type=float, default=7.0, help="augmentation: max rotation, degrees")
    parser.add_argument("--shift", type=float, default=2.0, help="augmentation: max shift, pixels")
    parser.add_argument("--zoom", type=float, default=0.0, help="augmentation: scale by 1 +- up to this")
    parser.add_argument("--shear", type=float, default=0.0, help="augmentation: shear factor up to this")
    parser.add_argument("--force", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU (mixed_bfloat16 on CPU); logits stay float32")
    parser.add_argument("--xla", action="store_true", help="compile train/eval steps with XLA")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="mirrored: tf.distribute.MirroredStrategy over the visible GPUs")
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="Keras fit verbosity")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        validate_args(args)
    except UsageError as error:
        parser.error(str(error))
    return args


def validate_args(args):
    for name in ("epochs", "batch_size", "steps_per_execution"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1; received {getattr(args, name)}")
    for name in ("train_limit", "test_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1; received {value}")
    if args.data_dir is not None and args.data != "bundled":
        raise UsageError(f"--data {args.data} and --data-dir {args.data_dir!r} name two sources; give one")
    if args.validation_size < 0:
        raise UsageError(f"--validation-size must be >= 0; received {args.validation_size}")
    if not (args.l1 >= 0 and math.isfinite(args.l1)):
        raise UsageError(f"--l1 must be a finite number >= 0; received {args.l1}")
    if not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must be in [0, 1); received {args.dropout}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be > 0; received {args.lr}")
    if not 0 <= args.warmup_fraction < 1:
        raise UsageError(f"--warmup-fraction must be in [0, 1); received {args.warmup_fraction}")
    if not 0 <= args.ema < 1:
        raise UsageError(f"--ema must be in [0, 1) (0: off); received {args.ema}")
    try:
        args.network = model_lib.parse_architecture(args.architecture)
    except ValueError as error:
        raise UsageError(f"--architecture: {error}")
    for name, upper in (("rotation", 180), ("shift", 14), ("zoom", 1), ("shear", 1)):
        value = getattr(args, name)
        if not 0 <= value < upper:
            raise UsageError(f"--{name} must be in [0, {upper}); received {value}")
    args.norms = model_lib.NORMS if args.norm == ALL else (args.norm,)
    if "gn" in args.norms:
        channels = sorted({spec.filters for spec in args.network})
        if args.groups < 1 or any(c % args.groups for c in channels):
            raise UsageError(
                f"--groups {args.groups} does not divide the channel counts {channels}; "
                f"allowed: {', '.join(str(g) for g in range(1, channels[0] + 1) if all(c % g == 0 for c in channels))}"
            )
    args.seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]
    for seed in args.seeds:
        if not 0 <= seed < 2**31:
            raise UsageError(f"--seed must be in [0, {2**31 - 1}]; received {seed}")
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        probe = os.path.join(args.output_dir, f".write-test-{os.getpid()}")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as error:
        raise UsageError(f"--output-dir {args.output_dir!r} cannot be written: {error.strerror or error}")


# ----------------------------------------------------------------------------- files


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
        weights_tmp = os.path.join(self.backup_dir, ".tmp-latest.weights.h5")
        metadata_tmp = os.path.join(self.backup_dir, ".tmp-training_metadata.json")
        self.model.save_weights(weights_tmp, overwrite=True)
        with open(metadata_tmp, "w") as handle:
            handle.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        os.replace(weights_tmp, self._weights_path)
        os.replace(metadata_tmp, self._training_metadata_path)


def make_optimizer(args, steps_per_epoch):
    """SGD/Adam with linear warm-up then cosine decay to zero at the last step."""
    total = steps_per_epoch * args.epochs
    warmup = int(round(args.warmup_fraction * total))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.lr / 25 if warmup else args.lr,
        decay_steps=max(total - warmup, 1),
        alpha=0.0,
        warmup_target=args.lr if warmup else None,
        warmup_steps=warmup,
    )
    # The moving average covers the trainable weights only; BN's moving statistics stay as trained.
    ema = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
    if args.optimizer == "adam":
        return keras.optimizers.Adam(schedule, **ema)
    return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True, **ema)


def compile_model(model, args, steps_per_epoch):
    """Optimizer, loss and metrics of every training run (benchmark.py times the same)."""
    model.compile(
        optimizer=make_optimizer(args, steps_per_epoch),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Plain cross-entropy beside `loss`, which for BN also holds the L1 penalty.
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
        ],
        steps_per_execution=args.steps_per_execution,
        jit_compile=args.xla,
    )


def run_config(args, norm, seed, data_source):
    """What determines a run's result; a finished run is reused only if this matches."""
    return {
        "norm": norm, "seed": seed, "epochs": args.epochs, "batch_size": args.batch_size,
        "optimizer": args.optimizer, "lr": args.lr, "warmup_fraction": args.warmup_fraction,
        "l1": args.l1 if norm == "bn" else None, "groups": args.groups if norm == "gn" else None,
        "architecture": model_lib.architecture_spec(args.network),
        "dropout": args.dropout, "augment": augmentation(args), "train_limit": args.train_limit,
        "test_limit": args.test_limit, "validation_size": args.validation_size, "data": data_source,
        "mixed_precision": args.mixed_precision, "strategy": args.strategy,
        "deterministic": args.deterministic,
        # Recorded only when on, so that the configs of runs made before the flag existed still match.
        **({"ema": args.ema} if args.ema else {}),
    }


def augmentation(args):
    """The `data.augmenter` arguments of a run, or False without augmentation."""
    if not args.augment:
        return False
    return {"rotation_degrees": args.rotation, "shift_pixels": args.shift, "zoom": args.zoom, "shear": args.shear}


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


def train_run(args, norm, seed, train, evaluation, run_dir, config, strategy, export=True):
    """Trains one (norm, seed) run in `run_dir`, resuming if a backup is there; returns its result.

    `export=False` skips the SavedModel (studies of many runs keep only model.keras).
    """
    keras.backend.clear_session()  # fresh graph and layer names for every run
    keras.mixed_precision.set_global_policy(precision_policy(args))  # after: clear_session resets it
    keras.utils.set_random_seed(seed)
    replicas = strategy.num_replicas_in_sync
    global_batch = args.batch_size * replicas
    steps_per_epoch = math.ceil(len(train[0]) / global_batch)
    with strategy.scope():
        model = model_lib.build_model(
            norm, l1_strength=args.l1, groups=args.groups, dropout=args.dropout,
            synchronized=replicas > 1, architecture=args.network,
        )
        compile_model(model, args, steps_per_epoch)
    train_batches = data_lib.TrainingBatches(*train, global_batch, seed=seed, augment=augmentation(args))
    eval_ds = data_lib.make_dataset(*evaluation, 1000)
    history_cb = EpochHistory(os.path.join(run_dir, "history.csv"), os.path.join(run_dir, "kernels.json"))
    backup_dir = os.path.join(run_dir, "backup")
    tensorboard = tensorboard_dir(args.output_dir, run_dir)
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
    if args.ema:
        # Swapped in for every evaluation (the history's val_* columns) and swapped back for training and backups.
        callbacks.insert(1, keras.callbacks.SwapEMAWeights())
    started = time.perf_counter()
    model.fit(train_batches.dataset, epochs=args.epochs, validation_data=eval_ds, callbacks=callbacks,
              verbose=args.verbose, shuffle=False)
    if history_cb.diverged_epoch is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)  # its weights are NaN: a rerun must start afresh
        raise TrainingDiverged(f"{norm} (seed {seed}): loss became NaN/inf in epoch {history_cb.diverged_epoch}",
                               history_cb.diverged_epoch)
    rows = rundir.read_history(os.path.join(run_dir, "history.csv"))
    if args.ema:
        model.optimizer.finalize_variable_values(model.trainable_variables)  # export the averaged weights
    rundir.atomic_write(os.path.join(run_dir, "model.keras"), model.save)
    if export:
        rundir.atomic_write(os.path.join(run_dir, "saved_model"),
                      lambda tmp: model_lib.probability_model(model).export(tmp, verbose=False))
    probabilities = model_lib.predict_probabilities(model, evaluation[0])
    best = max(rows, key=lambda row: row["val_accuracy"])
    result = {
        "norm": norm,
        "seed": seed,
        "evaluated_on": "validation" if args.validation_size else "test",
        "trainable_params": model_lib.trainable_params(model),
        "replicas": replicas,
        "global_batch_size": global_batch,
        "precision": precision_policy(args),
        "epochs": len(rows),
        "final_accuracy": rows[-1]["val_accuracy"],
        "final_ce": rows[-1]["val_ce"],
        "best_accuracy": best["val_accuracy"],
        "best_epoch": best["epoch"],
        "train_seconds": round(sum(row["epoch_seconds"] for row in rows), 1),
        "mean_epoch_seconds": round(float(np.mean([row["epoch_seconds"] for row in rows])), 2),
        "wall_seconds_this_session": round(time.perf_counter() - started, 1),
        "misclassified": top_mistakes(probabilities, evaluation[1]),
        "config": config,
    }
    rundir.write_json(os.path.join(run_dir, "result.json"), result)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return result


def tensorboard_dir(output_dir, run_dir):
    """<output-dir>/tensorboard/<the run's folder below output-dir>: one tree for all runs of a folder."""
    return os.path.join(output_dir, "tensorboard", os.path.relpath(run_dir, output_dir))


def prepare_run_dir(run_dir, config, force):
    """Returns True if `run_dir` already holds a finished run of `config` (to be reused)."""
    config_path = os.path.join(run_dir, "config.json")
    if os.path.exists(run_dir):
        stale = os.path.exists(config_path) and rundir.read_json(config_path) != config
        if force or stale:
            if stale and not force:
                print(f"{run_dir}: settings changed since the last run; starting it afresh.")
            shutil.rmtree(run_dir)
        elif os.path.exists(os.path.join(run_dir, "result.json")):
            return True
    os.makedirs(run_dir, exist_ok=True)
    for name in os.listdir(run_dir):  # leftovers of a write that was cut off
        if name.startswith((".tmp-", ".old-")):
            path = os.path.join(run_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    rundir.write_json(config_path, config)
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
            {k: v for k, v in run.items() if k not in ("misclassified", "config", "run_dir")} for run in runs
        ]
        entry["config"] = {k: v for k, v in runs[0]["config"].items() if k != "seed"}
        variants[norm] = entry
    summary = {"variants": variants, **rundir.environment()}
    rundir.write_json(os.path.join(output_dir, "summary.json"), summary)
    return summary


def write_figures(output_dir, results, eval_images):
    """Joint curves (when more than one variant has a history; the mean and spread of all seeds) and
    misclassified grids (the first seed's model)."""
    # The control joins the figures only when it was trained alone: the graphs and grids are the three's.
    if any(norm in results for norm in model_lib.NORMS):
        results = {norm: runs for norm, runs in results.items() if norm in model_lib.NORMS}
    first = {norm: runs[0] for norm, runs in results.items()}
    labels = {norm: model_lib.variant_label(norm, run["config"]) for norm, run in first.items()}
    if len(first) > 1:
        histories = {norm: [rundir.read_history(os.path.join(run["run_dir"], "history.csv")) for run in runs]
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


# ----------------------------------------------------------------------------- main


def configure(args):
    """Global TF/Keras settings; returns the distribution strategy."""
    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    if args.strategy == "mirrored":
        # All GPUs; on a machine without any, all logical CPU devices (normally one:
        # tests split the CPU into two to exercise the multi-replica path).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def precision_policy(args):
    """float32, or mixed_float16 on GPU / mixed_bfloat16 on CPU with --mixed-precision."""
    if not args.mixed_precision:
        return "float32"
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def load_splits(args):
    """(train, evaluation, data source name): evaluation is the test set, or the validation split."""
    train, test = data_lib.load_mnist(args.data, args.data_dir)
    if args.validation_size:
        train, test = data_lib.split_validation(train, args.validation_size)
    for name, split in (("train", train), ("test", test)):
        limit = getattr(args, f"{name}_limit")
        if limit is not None and limit > len(split[0]):
            print(f"notice: --{name}-limit {limit} is larger than the {len(split[0])} available; using all.")
    train = tuple(a[: args.train_limit] for a in train)
    test = tuple(a[: args.test_limit] for a in test)
    source = data_lib.source_name(args.data, args.data_dir)
    return train, test, source


def run(args):
    strategy = configure(args)
    train, evaluation, source = load_splits(args)
    several = len(args.seeds) > 1
    failures = []
    for norm in args.norms:
        for seed in args.seeds:
            run_dir = rundir.run_dir_for(args.output_dir, norm, seed, several)
            config = run_config(args, norm, seed, source)
            if prepare_run_dir(run_dir, config, args.force):
                print(f"{norm} seed {seed}: already finished in {run_dir} (use --force to retrain)")
                continue
            print(f"{norm} seed {seed}: training {args.epochs} epochs on {len(train[0])} images -> {run_dir}")
            try:
                result = train_run(args, norm, seed, train, evaluation, run_dir, config, strategy)
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
    results = rundir.collect_results(args.output_dir)
    if results:
        summarize(args.output_dir, results)
        write_figures(args.output_dir, results, evaluation[0])
    return 1 if failures else 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (data_lib.DataError, OSError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
