"""The run folders: their layout, finding them, and writing their files. No other module spells a run file's name.

A run is a folder `<results>/<norm>/` (one seed), `<results>/<norm>/seed-<k>/`, or for a sweep's point
`<results>/<norm>/<setting>-<value>/.../seed-<k>/`, holding the files of `FILES` (`file(run_dir, "history")` is
its history.csv); result.json's presence marks the run finished. A results folder holds `SUMMARY`.
Every file is written atomically: a killed command never leaves a half-written one.
"""

import argparse
import csv
import json
import os
import shutil

from . import variants

# Keras, TensorFlow and Matplotlib are imported where they are needed: predict.py and draw.py use this module's
# files and parser, and start without TensorFlow.

# A run folder's files, by kind. training.train_run writes the first seven; deploy.py the LiteRT files (their kinds are the
# runtimes' names, see runtimes.py).
FILES = {
    "config": "config.json",      # what determines the result; a finished run is reused only if it matches
    "history": "history.csv",     # one row per finished epoch
    "result": "result.json",      # the run's numbers; marks it finished
    "kernels": "kernels.json",    # per epoch, each conv kernel's L2 norm and near-zero fraction
    "model": "model.keras",       # the trained Keras model
    "saved_model": "saved_model", # folder: the SavedModel serving probabilities
    "backup": "backup",           # folder: BackupAndRestore's state while training
    "litert-f32": "model.tflite",
    "litert-int8": "model_int8.tflite",
}
SUMMARY = "summary.json"  # a results folder's (or a study's) summary
SEED_PREFIX = "seed-"
# A sweep point's folder is <flag>-<value>, with a few flags shortened: "bs-8" as the batch-size study always had.
SETTING_NAMES = {"batch-size": "bs"}

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "ce", "val_loss", "val_accuracy", "val_ce", "lr", "epoch_seconds")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it has none to show (None, an on/off flag) or says it
    already; descriptions and epilogs keep their own line breaks."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = (action.default is not None and action.default is not argparse.SUPPRESS
                 and not isinstance(action.default, bool) and action.default != [])
        if shown and "default" not in text and (action.option_strings or action.nargs in ("?", "*")):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """The commands' parser: --help shows every default; a bad value is one line and exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        # One line, not the usage block: the message names the bad value.
        self.exit(2, f"{self.prog}: error: {message}\n")

    def require_folder(self, flag, path):
        """One line and exit 2 unless `path`, the value of `flag` (None: not given), is a folder."""
        if path is not None and not os.path.isdir(path):
            self.error(f"{flag} {path!r}: no such folder")

    def require_buildable(self, norms):
        """One line and exit 2 for a variant the installed Keras cannot build."""
        for norm in norms:
            missing = variants.missing_keras(norm)
            if missing:
                self.error(f"--norm {norm}: {missing}")


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


def write_bytes(path, payload):
    """Writes `payload` to `path` atomically; a file that already holds exactly these bytes is left untouched, so a
    command that finds its work done changes no file. Returns whether it wrote."""
    if os.path.isfile(path) and os.path.getsize(path) == len(payload):
        with open(path, "rb") as handle:
            if handle.read() == payload:
                return False

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(payload)

    atomic_write(path, write)
    return True


def write_text(path, text):
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, payload):
    return write_text(path, json.dumps(payload, indent=2) + "\n")


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
    """Saves a Matplotlib figure as PNG (unchanged bytes leave the file untouched) and closes it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(figure)
    return write_bytes(path, buffer.getvalue())


def file(run_dir, kind):
    """The path of a run's file of `kind` (a key of FILES)."""
    return os.path.join(run_dir, FILES[kind])


def summary_path(folder):
    return os.path.join(folder, SUMMARY)


def read_summary(folder):
    """A results folder's summary.json, or None where there is none."""
    path = summary_path(folder)
    return read_json(path) if os.path.exists(path) else None


def run_dir_for(output_dir, norm, seed, several_seeds=True, setting=()):
    """The folder of one run: <output_dir>/<norm>[/<flag>-<value>...]/seed-<k>, or <output_dir>/<norm> alone."""
    if not several_seeds:
        return os.path.join(output_dir, norm)
    parts = [f"{SETTING_NAMES.get(flag, flag)}-{value}" for flag, value in setting]
    return os.path.join(output_dir, norm, *parts, f"{SEED_PREFIX}{seed}")


def tensorboard_dir(output_dir, run_dir):
    """<output-dir>/tensorboard/<the run's folder below output-dir>: one tree for all runs of a folder."""
    return os.path.join(output_dir, "tensorboard", os.path.relpath(run_dir, output_dir))


def layout(name="", seed="<k>"):
    """Where a file `name` of a run lies below a results folder, for help texts and messages:
    "<norm>/seed-<k>/NAME or <norm>/NAME" (several seeds, or one)."""
    return f"<norm>/{SEED_PREFIX}{seed}/{name} or <norm>/{name}"


def find_run(results_dir, norm, seed=1, kind="result"):
    """The folder of `norm`'s run of `seed` under `results_dir` holding a file of `kind` (`<norm>/seed-<k>/`, or
    `<norm>/` for a run of one seed), or None."""
    for folder in (run_dir_for(results_dir, norm, seed), run_dir_for(results_dir, norm, seed, False)):
        if os.path.isfile(file(folder, kind)):
            return folder
    return None


def is_finished(run_dir):
    return os.path.exists(file(run_dir, "result"))


def load_trained_model(run_dir):
    """The trained Keras model of a finished run in `run_dir`.

    The network is rebuilt from the run's config.json and its weights read from model.keras, rather than
    `keras.saving.load_model`, so that a model saved by another Keras version loads: Keras 3.10 cannot
    deserialize the initializer configs Keras 3.15 writes. Without a config.json, plain `load_model`.
    """
    import keras

    from . import network as model_lib

    config_path = file(run_dir, "config")
    if not os.path.exists(config_path):
        return keras.saving.load_model(file(run_dir, "model"))
    config = read_json(config_path)
    network = model_lib.build_model(
        config["norm"], l1_strength=config["l1"] or 0.0, groups=config["groups"] or model_lib.DEFAULT_GROUPS,
        group_size=config.get("group_size"), dropout=config["dropout"], architecture=config["architecture"],
    )
    network.load_weights(file(run_dir, "model"))
    return network


def collect_results(output_dir):
    """{norm: [result dicts sorted by seed, each with its "run_dir"]} for every finished run directly under
    `output_dir` (<norm>/ or <norm>/seed-<k>/; every variant, the control too)."""
    found = {}
    for norm in variants.ALL_NORMS:
        base = os.path.join(output_dir, norm)
        folders = [base]
        if os.path.isdir(base):
            folders += [os.path.join(base, d) for d in os.listdir(base) if d.startswith(SEED_PREFIX)]
        results = [dict(read_json(file(f, "result")), run_dir=f) for f in folders if is_finished(f)]
        if results:
            found[norm] = sorted(results, key=lambda r: r["seed"])
    return found
