"""How each normalization copes with the batch size: a sweep of BN + L1, GN and LN over batch sizes.

    python batch_size_study.py                                # the committed study (results/batch_size/)
    python batch_size_study.py --batch-sizes 4 64 --seeds 1 --epochs 1 --output-dir outputs/bs

Every (batch size, model, seed) point is an ordinary train.py run with one rule for all
three models: the same number of epochs, and the learning rate scaled from the 20-epoch
recipe (peak 0.01 at batch 128) by the square root of the batch size (`--lr-scaling`).
Points live in <output-dir>/<norm>/bs-<B>/seed-<k>/; killing the sweep and rerunning the
same command resumes the unfinished point from its last epoch and skips finished ones.

Afterwards the BN models trained at the reference batch size and at the smallest one are
evaluated on the test set twice: with their moving averages (what Keras does at test
time) and with the statistics of the test batch itself (BN in training mode) for several
test-batch sizes. GN and LN compute the same statistics either way.

Writes summary.json, bn_test_time.json and batch_size.png under the output folder.
"""

import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import data as data_lib  # noqa: E402
import model as model_lib  # noqa: E402
import plots  # noqa: E402
import train  # noqa: E402

DEFAULT_BATCH_SIZES = (2, 4, 8, 32, 128, 512)
LR_SCALINGS = {"sqrt": 0.5, "linear": 1.0, "none": 0.0}  # lr = base_lr * (batch / base_batch) ** power
TEST_TIME_BATCHES = (1, 2, 8, 128, 1000)


def parse_args(argv=None):
    parser = train._Parser(prog="batch_size_study.py", description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(DEFAULT_BATCH_SIZES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--norm", default=train.ALL, choices=(*model_lib.NORMS, train.ALL))
    parser.add_argument("--epochs", type=int, default=2, help="the same for every point")
    parser.add_argument("--base-lr", type=float, default=0.01, help="peak learning rate at --base-batch-size")
    parser.add_argument("--base-batch-size", type=int, default=128)
    parser.add_argument("--lr-scaling", choices=tuple(LR_SCALINGS), default="sqrt",
                        help="how the peak learning rate follows the batch size")
    parser.add_argument("--data", choices=data_lib.SOURCES, default="bundled")
    parser.add_argument("--data-dir")
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument("--test-time-batches", type=int, nargs="+", default=list(TEST_TIME_BATCHES),
                        help="test-batch sizes for BN with batch statistics")
    parser.add_argument("--output-dir", default="outputs/batch_size")
    parser.add_argument("--force", action="store_true", help="retrain finished points")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    args = parser.parse_args(argv)
    for name in ("batch_sizes", "test_time_batches"):
        values = getattr(args, name)
        if min(values) < 1:
            parser.error(f"--{name.replace('_', '-')} must all be >= 1; received {min(values)}")
        setattr(args, name, sorted(set(values)))
    if args.base_batch_size < 1:
        parser.error(f"--base-batch-size must be >= 1; received {args.base_batch_size}")
    if not (args.base_lr > 0 and math.isfinite(args.base_lr)):
        parser.error(f"--base-lr must be > 0; received {args.base_lr}")
    args.seeds = list(dict.fromkeys(args.seeds))
    args.norms = model_lib.NORMS if args.norm == train.ALL else (args.norm,)
    return args


def learning_rate(args, batch_size):
    return args.base_lr * (batch_size / args.base_batch_size) ** LR_SCALINGS[args.lr_scaling]


def point_args(args, norm, batch_size, seed):
    """train.py's arguments for one point (validated by train.py's own parser)."""
    argv = ["--norm", norm, "--batch-size", str(batch_size), "--seed", str(seed), "--epochs", str(args.epochs),
            "--lr", repr(learning_rate(args, batch_size)), "--output-dir", args.output_dir,
            "--verbose", str(args.verbose), "--data", args.data]
    for flag, value in (("--data-dir", args.data_dir), ("--train-limit", args.train_limit),
                        ("--test-limit", args.test_limit)):
        if value is not None:
            argv += [flag, str(value)]
    return train.parse_args(argv)


def point_dir(output_dir, norm, batch_size, seed):
    return os.path.join(output_dir, norm, f"bs-{batch_size}", f"seed-{seed}")


def run_point(args, norm, batch_size, seed, splits, strategy):
    """Trains (or reuses) one point; returns its result dict."""
    run_args = point_args(args, norm, batch_size, seed)
    train_split, test_split, source = splits
    run_dir = point_dir(args.output_dir, norm, batch_size, seed)
    config = train.run_config(run_args, norm, seed, source)
    if train.prepare_run_dir(run_dir, config, args.force):
        print(f"{norm} batch {batch_size} seed {seed}: already finished in {run_dir}")
        result = train.read_json(os.path.join(run_dir, "result.json"))
    else:
        print(f"{norm} batch {batch_size} seed {seed}: {args.epochs} epochs, peak lr {run_args.lr:.5g} -> {run_dir}")
        result = train.train_run(run_args, norm, seed, train_split, test_split, run_dir, config, strategy,
                                 export=False)
    steps = math.ceil(len(train_split[0]) / batch_size)
    return {"norm": norm, "batch_size": batch_size, "seed": seed, "lr": run_args.lr, "steps_per_epoch": steps,
            **{key: result[key] for key in ("epochs", "final_accuracy", "final_ce", "best_accuracy", "best_epoch",
                                            "train_seconds", "mean_epoch_seconds", "trainable_params")}}


def write_summary(args, runs, source):
    summary = {
        "settings": {
            "epochs": args.epochs, "batch_sizes": args.batch_sizes, "seeds": args.seeds,
            "lr_rule": f"peak lr = {args.base_lr:g} * (batch / {args.base_batch_size}) ** "
                       f"{LR_SCALINGS[args.lr_scaling]:g} ({args.lr_scaling} scaling); warm-up 20 %, cosine to 0",
            "base_lr": args.base_lr, "base_batch_size": args.base_batch_size, "lr_scaling": args.lr_scaling,
            "data": source, "train_limit": args.train_limit, "test_limit": args.test_limit, "evaluated_on": "test",
        },
        "runs": runs,
        **train.environment(),
    }
    train.write_json(os.path.join(args.output_dir, "summary.json"), summary)
    if runs:
        train.save_figure(plots.plot_batch_size(runs, model_lib.NORM_LABELS, args.epochs,
                                                summary["settings"]["lr_rule"]),
                          os.path.join(args.output_dir, "batch_size.png"))
    return summary


def accuracy_with_batch_statistics(network, images, labels, batch_size):
    """Test accuracy when every BN layer normalizes with the statistics of the test batch it sits in.

    Test batches are taken in order; the last one may be smaller. Calling the model in
    training mode also moves BN's moving averages (which training mode never reads), so
    evaluate with the moving averages before this, not after.
    """
    forward = tf.function(lambda x: network(x, training=True), reduce_retracing=True)
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = forward(tf.constant(images[start : start + batch_size], tf.float32))
        correct += int(np.sum(np.argmax(logits.numpy(), axis=1) == labels[start : start + batch_size]))
    return correct / len(images)


def bn_test_time(args, test_split):
    """BN models evaluated with moving averages and with test-batch statistics."""
    images, labels = test_split
    rows = []
    trained = sorted({args.batch_sizes[0], args.base_batch_size} & set(args.batch_sizes))
    for batch_size in trained:
        path = os.path.join(point_dir(args.output_dir, "bn", batch_size, args.seeds[0]), "model.keras")
        if not os.path.exists(path):
            continue
        network = keras.saving.load_model(path)
        probabilities = model_lib.predict_probabilities(network, images)
        row = {"trained_batch_size": batch_size, "seed": args.seeds[0],
               "moving_averages": float(np.mean(probabilities.argmax(axis=1) == labels)), "batch_statistics": {}}
        for test_batch in args.test_time_batches:
            if test_batch > len(images):
                continue
            row["batch_statistics"][str(test_batch)] = accuracy_with_batch_statistics(network, images, labels,
                                                                                      test_batch)
            print(f"bn trained at batch {batch_size}: test batch {test_batch}, batch statistics: "
                  f"{100 * row['batch_statistics'][str(test_batch)]:.2f}%")
        print(f"bn trained at batch {batch_size}: moving averages: {100 * row['moving_averages']:.2f}%")
        rows.append(row)
    payload = {"test_images": len(images), "models": rows}
    train.write_json(os.path.join(args.output_dir, "bn_test_time.json"), payload)
    return payload


def run(args):
    first = point_args(args, args.norms[0], args.batch_sizes[0], args.seeds[0])
    strategy = train.configure(first)
    splits = train.load_splits(first)
    runs = []
    # Smallest batches first: they are the point of the study and the slowest to train.
    for batch_size in args.batch_sizes:
        for seed in args.seeds:
            for norm in args.norms:
                runs.append(run_point(args, norm, batch_size, seed, splits, strategy))
                write_summary(args, runs, splits[2])  # a killed sweep still leaves what it finished
                print(f"{norm} batch {batch_size} seed {seed}: test accuracy "
                      f"{100 * runs[-1]['final_accuracy']:.2f}%, {runs[-1]['mean_epoch_seconds']:.1f} s/epoch")
    if "bn" in args.norms:
        bn_test_time(args, splits[1])
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (data_lib.DataError, OSError, train.TrainingDiverged) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished points and epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
