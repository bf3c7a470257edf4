"""sweep.py: one resumable sweep for every study: a rule for every point, resume, divergence, BN test time."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from mnist_norm import studies
from mnist_norm import sweep
from mnist_norm import variants

import sweep as sweep_command
from mnist_norm import network as model
from mnist_norm import plots

from conftest import ROOT  # noqa: E402


def sweep_args(mnist_dir, output_dir, *extra):
    return ["batch-size", "--data-dir", mnist_dir, "--output-dir", str(output_dir), "--epochs", "1", "--seeds", "1",
            "--vary", "batch-size", "8", "64", "--test-time-batches", "1", "8", "128", "--verbose", "0", "--norm", "all",
            *extra]


def test_learning_rate_follows_the_stated_rule(tmp_path):
    args = sweep_command.parse_args(["batch-size", "--output-dir", str(tmp_path)])
    assert studies.learning_rate(args, 128) == pytest.approx(0.01)
    assert studies.learning_rate(args, 2) == pytest.approx(0.01 * math.sqrt(2 / 128))
    linear = sweep_command.parse_args(["batch-size", "--lr-scaling", "linear", "--output-dir", str(tmp_path)])
    assert studies.learning_rate(linear, 512) == pytest.approx(0.04)
    point = next(p for p in args.points if (p.norm, p.seed, p.config.batch_size) == ("gn", 2, 8))
    assert (point.config.batch_size, point.config.seed, point.config.epochs, point.config.norm) == (8, 2, 2, "gn")
    assert point.config.lr == pytest.approx(0.01 * math.sqrt(8 / 128))
    assert point.run_dir == os.path.join(str(tmp_path), "gn", "bs-8", "seed-2")
    # the study's models, named: the four normalized models and the four after GN (those this Keras can build)
    built = {"bn", "gn", "ln", "in", "brn", "gnws", "frn", "rms"} & set(variants.available())
    assert len(args.points) == 6 * 3 * len(built)  # batch sizes x seeds x models
    assert {p.norm for p in args.points} == built


def test_any_train_setting_can_be_swept_and_other_flags_reach_every_point(tmp_path):
    args = sweep_command.parse_args(["grid", "--vary", "dropout", "0", "0.1", "--vary", "optimizer", "adam", "sgd",
                             "--norm", "gn", "--seeds", "1", "--lr", "0.05", "--output-dir", str(tmp_path)])
    assert [(p.config.dropout, p.config.optimizer, p.config.lr) for p in args.points] == [
        (0.0, "adam", 0.05), (0.0, "sgd", 0.05), (0.1, "adam", 0.05), (0.1, "sgd", 0.05)]
    assert args.points[1].run_dir == os.path.join(str(tmp_path), "gn", "dropout-0", "optimizer-sgd", "seed-1")
    presets = {name: sweep_command.parse_args([name, "--output-dir", str(tmp_path)]) for name in ("learning-rate", "l1")}
    rates = sorted({p.config.lr for p in presets["learning-rate"].points})
    assert len(rates) >= 6 and rates[-1] / rates[0] >= 100  # two decades at least
    assert {p.norm for p in presets["learning-rate"].points} == {"bn", "gn", "ln", "in", "none", "brn", "gnws", "frn",
                                                                 "rms"} & set(variants.available())
    assert {p.config.optimizer for p in presets["learning-rate"].points} == {"adam", "sgd"}
    assert sorted({p.config.l1 for p in presets["l1"].points}) == [0.0, 1e-5, 1e-4, 1e-3]
    assert {(p.norm, p.config.epochs) for p in presets["l1"].points} == {("bn", 20)}


@pytest.mark.parametrize("flags, message", [
    (["batch-size", "--vary", "batch-size", "0", "8"], "--batch-size must be >= 1; received 0"),
    (["batch-size", "--base-lr", "-1"], "--base-lr must be > 0; received -1.0"),
    (["batch-size", "--lr-scaling", "cubic"], "invalid choice: 'cubic'"),
    (["dropout"], "argument study: invalid choice: 'dropout'"),
    (["grid"], "the grid study has no grid: give one with --vary FLAG VALUE..."),
    (["grid", "--vary", "seed", "1", "2"], "--vary seed: not a train.py setting that can be swept"),
    (["grid", "--vary", "colour", "red"], "--vary colour: not a train.py setting that can be swept"),
    (["l1", "--vary", "l1", "-1"], "--l1 must be a finite number >= 0; received -1.0"),
    (["l1", "--momentum", "0.9"], "unrecognized argument --momentum: neither a sweep.py nor a train.py option"),
])
def test_bad_values_exit_2_with_one_line(flags, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        sweep_command.parse_args([*flags, "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def swept(mnist_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("sweep")
    assert sweep_command.main(sweep_args(mnist_dir, output)) == 0
    return output


@pytest.mark.slow
def test_sweep_writes_every_point_summary_figure_and_bn_table(swept):
    summary = json.loads((swept / "summary.json").read_text())
    points = {(run["norm"], run["batch_size"], run["seed"]) for run in summary["runs"]}
    assert points == {(norm, size, 1) for norm in model.NORMS for size in (8, 64)}
    for run in summary["runs"]:
        assert 0 <= run["final_accuracy"] <= 1 and run["final_ce"] > 0 and run["epochs"] == 1
        assert run["steps_per_epoch"] == math.ceil(384 / run["batch_size"])
        assert (swept / run["norm"] / f"bs-{run['batch_size']}" / "seed-1" / "history.csv").is_file()
        config = json.loads((swept / run["norm"] / f"bs-{run['batch_size']}" / "seed-1" / "config.json").read_text())
        assert config["batch_size"] == run["batch_size"] and config["lr"] == pytest.approx(run["lr"])
    assert "sqrt" in summary["settings"]["lr_rule"] and summary["settings"]["evaluated_on"] == "test"
    assert (swept / "batch_size.png").read_bytes().startswith(b"\x89PNG")
    table = json.loads((swept / "bn_test_time.json").read_text())
    # The smallest batch trained; 128 was not in this sweep. 128 test images: a test batch of 128 is one batch.
    assert [row["trained_batch_size"] for row in table["models"]] == [8]
    assert set(table["models"][0]["batch_statistics"]) == {"1", "8", "128"}
    bn = next(r for r in summary["runs"] if r["norm"] == "bn" and r["batch_size"] == 8)
    assert table["models"][0]["moving_averages"] == pytest.approx(bn["final_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_rerun_skips_finished_points(swept, mnist_dir, capsys):
    histories = {path: path.read_text() for path in swept.glob("*/bs-*/seed-1/history.csv")}
    assert sweep_command.main(sweep_args(mnist_dir, swept)) == 0
    out = capsys.readouterr().out
    assert out.count("already finished") == 6 and "Epoch" not in out
    assert [line.split(":")[0] for line in out.splitlines() if "already finished" in line] == [
        f"point {k} of 6" for k in range(1, 7)]
    assert {path: path.read_text() for path in histories} == histories


@pytest.mark.slow
def test_killed_sweep_resumes_where_it_stopped(mnist_dir, tmp_path):
    from conftest import kill_when, write_mnist_dir

    os.makedirs(tmp_path / "mnist")
    mnist = write_mnist_dir(tmp_path / "mnist", train_count=2000, test_count=64)
    command = [sys.executable, "sweep.py", "batch-size", "--data-dir", mnist, "--output-dir", str(tmp_path / "out"),
               "--norm", "gn", "--epochs", "3", "--seeds", "1", "--vary", "batch-size", "16", "32", "--verbose", "0"]
    first = tmp_path / "out" / "gn" / "bs-16" / "seed-1"
    second = tmp_path / "out" / "gn" / "bs-32" / "seed-1"
    kill_when(command, (second / "history.csv").exists)
    assert (first / "result.json").exists() and not (second / "result.json").exists()
    finished = (first / "history.csv").read_text()
    interrupted = (second / "history.csv").read_text()

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "point 1 of 2: gn batch-size 16 seed 1: already finished" in resumed.stdout
    assert "point 2 of 2: gn batch-size 32 seed 1: accuracy" in resumed.stdout
    assert (first / "history.csv").read_text() == finished  # not retrained
    rows = (second / "history.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[:len(interrupted.splitlines()) - 1] == interrupted.splitlines()[:-1]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(run["batch_size"], run["epochs"]) for run in summary["runs"]] == [(16, 3), (32, 3)]


def test_batch_statistics_evaluation_equals_inference_for_gn_but_not_bn(mnist_dir):
    from mnist_norm.data import load_idx_dir

    _, (images, labels) = load_idx_dir(mnist_dir)
    keras.utils.set_random_seed(3)
    gn = model.build_model("gn")
    expected = float(np.mean(model.predict_probabilities(gn, images).argmax(axis=1) == labels))
    for batch in (1, 7, 128):
        assert sweep.accuracy_with_batch_statistics(gn, images, labels, batch) == pytest.approx(expected)
    bn = model.build_model("bn")
    # Untrained BN: moving statistics are still (0, 1), so batch statistics give other logits.
    logits_batch = np.asarray(bn(images[:16].astype("float32"), training=True))
    logits_moving = np.asarray(bn(images[:16].astype("float32"), training=False))
    assert np.abs(logits_batch - logits_moving).max() > 1e-3


def test_batch_size_figure_is_log2_with_one_line_and_band_per_model():
    runs = [{"norm": norm, "batch_size": size, "seed": seed, "final_accuracy": 0.98 + 0.001 * k + 0.0005 * seed,
             "final_ce": 0.05} for k, norm in enumerate(model.NORMS) for size in (2, 8, 128) for seed in (1, 2)]
    figure = plots.plot_batch_size(runs, model.NORM_LABELS, 2, "sqrt rule")
    accuracy, ce = figure.axes
    assert accuracy.get_xscale() == "log" and [t.get_text() for t in accuracy.get_xticklabels()] == ["2", "8", "128"]
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == [
        f"{model.NORM_LABELS[norm]}, mean of 2 seeds" for norm in model.NORMS]
    np.testing.assert_allclose(accuracy.lines[0].get_ydata(), [98.075] * 3)
    assert len(accuracy.collections) == 3 and "after 2 epochs" in accuracy.get_title()
    assert "batch size" in accuracy.get_xlabel() and "cross-entropy" in ce.get_ylabel()


def test_defaults_rerun_the_committed_study():
    # `python sweep.py batch-size --output-dir results/batch_size` must find every committed point finished: the
    # same folders and, in them, the same config.json that the sweep would write (or it would retrain them).
    folder = os.path.join(ROOT, "results", "batch_size")
    with open(os.path.join(folder, "summary.json")) as handle:
        committed = json.load(handle)
    args = sweep_command.parse_args(["batch-size", "--output-dir", os.path.relpath(folder, ROOT)])
    settings = sweep.settings(args, "bundled:data/mnist")
    for key in ("epochs", "batch_sizes", "seeds", "base_lr", "base_batch_size", "lr_scaling", "lr_rule", "train_limit",
                "test_limit", "data"):
        assert settings[key] == committed["settings"][key], key
    assert len(args.points) == len(committed["runs"]) == 6 * 3 * len(studies.STUDIES["batch-size"].norms)
    for point in args.points:
        with open(os.path.join(ROOT, point.run_dir, "config.json")) as handle:
            stored = json.load(handle)
        assert point.config.record("bundled:data/mnist") == stored, point.run_dir


@pytest.mark.slow
def test_a_diverged_point_is_recorded_not_a_crash_and_not_retrained(mnist_dir, tmp_path, capsys):
    argv = ["learning-rate", "--vary", "lr", "1e30", "--vary", "optimizer", "sgd", "--norm", "none", "--seeds", "1",
            "--epochs", "1", "--data-dir", mnist_dir, "--output-dir", str(tmp_path), "--verbose", "0"]
    assert sweep_command.main(argv) == 0
    run, = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert run["diverged"] is True and run["diverged_epoch"] == 1 and run["final_accuracy"] is None
    assert (run["norm"], run["lr"], run["optimizer"]) == ("none", 1e30, "sgd")
    assert "point 1 of 1: none optimizer sgd lr 1e30 seed 1: diverged in epoch 1" in capsys.readouterr().out
    assert (tmp_path / "learning_rate.png").read_bytes().startswith(b"\x89PNG")
    finished = (tmp_path / "none" / "optimizer-sgd" / "lr-1e30" / "seed-1" / "result.json").stat().st_mtime_ns
    assert sweep_command.main(argv) == 0
    assert "point 1 of 1: none optimizer sgd lr 1e30 seed 1: already finished; diverged in epoch 1" in \
        capsys.readouterr().out  # not trained again
    assert (tmp_path / "none" / "optimizer-sgd" / "lr-1e30" / "seed-1" / "result.json").stat().st_mtime_ns == finished


@pytest.mark.slow
def test_l1_points_carry_per_epoch_kernel_statistics(mnist_dir, tmp_path):
    argv = ["l1", "--vary", "l1", "0", "0.01", "--seeds", "1", "--epochs", "2", "--data-dir", mnist_dir,
            "--output-dir", str(tmp_path), "--verbose", "0", "--batch-size", "32"]
    assert sweep_command.main(argv) == 0
    runs = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert [run["l1"] for run in runs] == [0.0, 0.01]
    for run in runs:
        assert len(run["kernel_norms"]) == len(run["near_zero_all"]) == 2
        assert set(run["kernel_norms"][0]) == {"block1_conv", "block2_conv", "block3_conv", "block4_conv",
                                               "block5_conv", "head_conv"}
        trained = keras.models.load_model(tmp_path / "bn" / f"l1-{run['l1']:g}" / "seed-1" / "model.keras")
        kernel = np.asarray(trained.get_layer("head_conv").kernel)
        assert run["kernel_norms"][-1]["head_conv"] == pytest.approx(float(np.linalg.norm(kernel)), rel=1e-5)
    # A strong L1 pulls the head's kernel, which no normalization follows, smaller than no L1 does.
    assert runs[1]["kernel_norms"][-1]["head_conv"] < runs[0]["kernel_norms"][-1]["head_conv"]
    assert (tmp_path / "l1.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_rerun_without_the_models_keeps_the_bn_test_time_table(swept, mnist_dir, capsys):
    before = (swept / "bn_test_time.json").read_text()
    model_file = swept / "bn" / "bs-8" / "seed-1" / "model.keras"
    hidden = model_file.with_name("hidden.keras")
    model_file.rename(hidden)  # as in a clone: models are not committed
    try:
        assert sweep_command.main(sweep_args(mnist_dir, swept)) == 0
    finally:
        hidden.rename(model_file)
    assert "left as it was" in capsys.readouterr().out
    assert (swept / "bn_test_time.json").read_text() == before
