"""Training and inference speed of each variant, as a fraction of this machine's limit.

    python benchmark.py --output results/benchmark.json
    python benchmark.py --torch-python ../torchvenv/bin/python

For each variant: steady-state training img/s through the same model, optimizer and
tf.data pipeline as train.py (with augmentation, and without it to isolate the model),
inference img/s, multiply-adds per image, achieved GFLOP/s, and a float32 matmul
ceiling measured in the same run. Each figure is the median of --repeats timed passes
over --images real MNIST images after one warm-up pass. With --torch-python (an
interpreter that has PyTorch), the course network in PyTorch (torch_reference.py) is
timed in the same run for a side-by-side ratio, and so is this project's network in
PyTorch, to tell the framework's share from the network's. Time only on a quiet machine.

    python benchmark.py --candidate pool1 "--architecture 8p,12,16,16,16 --zoom 0.1"

times other recipes (train.py flags) side by side with train.py's defaults, which always
come first; a recipe's own --batch-size replaces the run's for it. For each recipe it
reports the steady-state training time of one 60,000-image epoch of all three variants
(a `train.py --norm all` epoch without its evaluation) and, with PyTorch, the same for
the course network's three trainings (always at the run's --batch-size).
"""

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

from . import quiet_tf  # noqa: E402

quiet_tf.start()  # TensorFlow's C++ start-up lines only with --debug

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from . import ROOT  # noqa: E402
from . import config as config_lib  # noqa: E402
from . import data as data_lib  # noqa: E402
from . import machine  # noqa: E402
from . import network as model_lib  # noqa: E402
from . import pipeline  # noqa: E402
from . import training  # noqa: E402



EPOCH_IMAGES = 60000  # one epoch of train.py's training set


def candidate_args(flags, batch_size):
    """The TrainConfig of a recipe given as train.py flags (exit 2 on bad ones; nothing is written).

    `batch_size` comes first, so a --batch-size among the recipe's flags wins (argparse keeps the last).
    """
    parser = config_lib.flag_parser("benchmark.py --candidate")
    args = parser.parse_args(["--batch-size", str(batch_size), *flags.split()])
    try:
        return config_lib.configs(args)[0]
    except config_lib.ConfigError as error:
        parser.error(str(error))


def time_variant(norm, images, labels, args, train_args):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    net = model_lib.build_model(norm, architecture=train_args.network)
    training.compile_model(net, train_args, len(images) // train_args.batch_size)
    result = {"trainable_params": model_lib.trainable_params(net), "multiply_adds": model_lib.multiply_adds(net)}
    for name, augment in (("train_img_per_s", train_args.augmentation()), ("train_no_augment_img_per_s", False)):
        dataset = pipeline.TrainingBatches(images, labels, train_args.batch_size, seed=0, augment=augment).dataset
        result[name] = machine.median_rate(lambda dataset=dataset: net.fit(dataset, epochs=1, verbose=0),
                                           len(images), args.repeats)
    evaluation = pipeline.make_dataset(images, labels, 1000)
    result["inference_img_per_s"] = machine.median_rate(lambda: net.predict(evaluation, verbose=0), len(images),
                                                        args.repeats)
    # Training costs about 3 forward passes (forward, and backward for inputs and weights), 2 FLOP per MAC.
    result["train_gflops"] = result["train_no_augment_img_per_s"] * 6 * result["multiply_adds"] / 1e9
    return result


def time_candidate(flags, train_args, images, labels, args, norms):
    """One recipe's rates per variant and its all-variants epoch time."""
    variants = {norm: time_variant(norm, images, labels, args, train_args) for norm in norms}
    return {
        "flags": flags,
        "architecture": model_lib.architecture_spec(train_args.network),
        "augment": train_args.augmentation(),
        "batch_size": train_args.batch_size,
        "variants": variants,
        "epoch_seconds_all": sum(EPOCH_IMAGES / entry["train_img_per_s"] for entry in variants.values()),
    }


def layer_profile(norm, batch_size, repeats=20):
    """Forward + backward milliseconds of each layer alone, on its real input shape: where the time goes."""
    net = model_lib.build_model(norm)
    rows = []
    for layer in net.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.name == "standardize":
            continue
        inputs = tf.random.normal((batch_size, *layer.input.shape[1:]))

        @tf.function
        def step(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
            return tape.gradient(y, [x, *layer.trainable_weights])

        step(inputs)
        started = time.perf_counter()
        for _ in range(repeats):
            step(inputs)
        rows.append((layer.name, 1000 * (time.perf_counter() - started) / repeats))
    total = sum(ms for _, ms in rows)
    return [{"layer": name, "ms": round(ms, 3), "share": round(ms / total, 4)} for name, ms in rows]


def torch_reference(python, args, norms, architecture=None):
    command = [python, os.path.join(ROOT, "torch_reference.py"), "--images", str(args.images),
               "--batch-size", str(args.batch_size), "--repeats", str(args.repeats), "--norms", *norms]
    if architecture is not None:
        command += ["--architecture", json.dumps([[s.name, s.filters, s.kernel_size, s.pool_after]
                                                  for s in architecture])]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        print(f"notice: PyTorch reference failed ({finished.stderr.strip().splitlines()[-1:]}); skipped")
        return None
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure(args, candidates, norms):
    """benchmark.py's report: every recipe of `candidates` ({name: (flags, TrainConfig)}) timed on `norms`, the
    machine's matmul peak, and PyTorch's side by side when an interpreter with it is found. Raises DataError."""
    (images, labels), _ = data_lib.load_mnist(args.data, args.data_dir)
    images, labels = images[: args.images], labels[: args.images]

    report = {
        **machine.environment(),
        "settings": {"images": len(images), "batch_size": args.batch_size, "repeats": args.repeats},
        "matmul_gflops": machine.matmul_gflops(),
        "candidates": {name: time_candidate(flags, train_args, images, labels, args, norms)
                       for name, (flags, train_args) in candidates.items()},
    }
    report["variants"] = report["candidates"]["default"]["variants"]
    if args.profile:
        report["profile"] = {norm: layer_profile(norm, args.batch_size) for norm in norms}
    python = args.torch_python
    if python is None:
        try:
            import torch  # noqa: F401

            python = sys.executable
        except ImportError:
            pass
    # The baseline is the course network in PyTorch; the same network as ours in
    # PyTorch tells how much of the ratio is the framework and how much the cheaper network.
    report["pytorch"] = torch_reference(python, args, norms) if python else None
    report["pytorch_same_network"] = (
        torch_reference(python, args, norms, model_lib.ARCHITECTURE) if report["pytorch"] else None
    )

    for key, suffix in (("pytorch", ""), ("pytorch_same_network", "_same_network")):
        if report[key]:
            for norm, entry in report["variants"].items():
                rate = report[key]["variants"][norm]["train_img_per_s"]
                entry[f"pytorch{suffix}_train_img_per_s"] = rate
                entry[f"ratio_vs_pytorch{suffix}"] = entry["train_img_per_s"] / rate
    if report["pytorch"]:
        # The course's three trainings, one 60,000-image epoch each, against each recipe's.
        torch_seconds = sum(EPOCH_IMAGES / report["pytorch"]["variants"][norm]["train_img_per_s"] for norm in norms)
        report["pytorch"]["epoch_seconds_all"] = torch_seconds
        for entry in report["candidates"].values():
            entry["speedup_vs_pytorch"] = torch_seconds / entry["epoch_seconds_all"]
    return report


# The commands whose time README.md states, as a user types them: its main job, its test command and the edit loop.
# The main job trains into a folder of its own, as in a fresh clone (outputs/ may hold finished runs here).
README_COMMANDS = {
    "tests": ("python -m pytest -q", ["-m", "pytest", "-q"], []),
    "edit_loop": ('python -m pytest -q -m "not slow"', ["-m", "pytest", "-q", "-m", "not slow"], []),
    "main_job": ("python train.py", ["train.py"], ["--output-dir"]),
}


def time_readme_commands(names=tuple(README_COMMANDS)):
    """Runs each of README_COMMANDS once, one after the other (nothing else should run meanwhile), and returns their
    wall-clock times with the machine's name; RuntimeError, with the end of its output, if one fails."""
    rows = {}
    for name in names:
        shown, arguments, folder_flag = README_COMMANDS[name]
        with tempfile.TemporaryDirectory() as folder:
            print(f"timing {shown} ...", flush=True)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, *arguments, *folder_flag, *([folder] if folder_flag else [])],
                                  cwd=ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(f"{shown} exited with {done.returncode}: {(done.stdout + done.stderr)[-600:]}")
        print(f"{shown}: {seconds / 60:.1f} minutes", flush=True)
        rows[name] = {"command": shown, "seconds": round(seconds, 1)}
    return {"commands": rows, "machine": machine.cpu_name(), "cores": os.cpu_count(),
            "date": datetime.date.today().isoformat()}

