"""The run folders that train.py writes and sweep.py, shift.py, predict.py and deploy.py read.

A finished run is a folder `<output-dir>/<norm>/` (one seed) or `<output-dir>/<norm>/seed-<k>/` holding
config.json, history.csv, result.json (its presence marks the run finished), kernels.json, model.keras and
saved_model/. Every file is written atomically: a killed command never leaves a half-written one.
"""

import argparse
import csv
import json
import os
import platform
import shutil

import variants

# Keras, TensorFlow and Matplotlib are imported where they are needed: predict.py and draw.py use this module's
# files and parser, and start without TensorFlow.

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "ce", "val_loss", "val_accuracy", "val_ce", "lr", "epoch_seconds")


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, not the usage block: the message names the bad value.
        self.exit(2, f"{self.prog}: error: {message}\n")


def atomic_write(path, write):
    """Calls write(tmp_path) and renames the result to `path`, so `path` is never half-written."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        write(tmp)
        if os.path.isdir(tmp) and os.path.exists(path):
            old = os.path.join(directory, f".old-{os.getpid()}-{name}")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, payload):
    def write(tmp):
        with open(tmp, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")

    atomic_write(path, write)


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def write_history(path, rows):
    def write(tmp):
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_history(path):
    """Rows of a history.csv with numbers parsed (epoch as int)."""
    with open(path, newline="") as handle:
        return [
            {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        ]


def save_figure(figure, path):
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight"))
    plt.close(figure)


def run_dir_for(output_dir, norm, seed, several_seeds):
    return os.path.join(output_dir, norm, f"seed-{seed}") if several_seeds else os.path.join(output_dir, norm)


def load_trained_model(run_dir):
    """The trained Keras model of a finished run in `run_dir`.

    The network is rebuilt from the run's config.json and its weights read from model.keras, rather than
    `keras.saving.load_model`, so that a model saved by another Keras version loads: Keras 3.10 cannot
    deserialize the initializer configs Keras 3.15 writes. Without a config.json, plain `load_model`.
    """
    import keras

    import model as model_lib

    config_path = os.path.join(run_dir, "config.json")
    if not os.path.exists(config_path):
        return keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    config = read_json(config_path)
    network = model_lib.build_model(
        config["norm"], l1_strength=config["l1"] or 0.0, groups=config["groups"] or model_lib.DEFAULT_GROUPS,
        dropout=config["dropout"], architecture=config["architecture"],
    )
    network.load_weights(os.path.join(run_dir, "model.keras"))
    return network


def collect_results(output_dir):
    """{norm: [result dicts sorted by seed]} for every finished run under `output_dir` (the control too)."""
    found = {}
    for norm in variants.ALL_NORMS:
        base = os.path.join(output_dir, norm)
        paths = [os.path.join(base, "result.json")]
        if os.path.isdir(base):
            paths += [os.path.join(base, d, "result.json") for d in os.listdir(base) if d.startswith("seed-")]
        results = [dict(read_json(p), run_dir=os.path.dirname(p)) for p in paths if os.path.exists(p)]
        if results:
            found[norm] = sorted(results, key=lambda r: r["seed"])
    return found


def environment():
    """The versions and machine a summary's numbers were made with."""
    import keras
    import tensorflow as tf

    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()},
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_name(),
            "cpu_count": os.cpu_count(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        },
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
