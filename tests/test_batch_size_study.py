"""batch_size_study.py: one rule for every point, resumable, and the BN test-time evaluation."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import batch_size_study
import model
import plots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sweep_args(mnist_dir, output_dir, *extra):
    return ["--data-dir", mnist_dir, "--output-dir", str(output_dir), "--epochs", "1", "--seeds", "1",
            "--batch-sizes", "8", "64", "--test-time-batches", "1", "8", "128", "--verbose", "0", *extra]


def test_learning_rate_follows_the_stated_rule(tmp_path):
    args = batch_size_study.parse_args(["--output-dir", str(tmp_path)])
    assert batch_size_study.learning_rate(args, 128) == pytest.approx(0.01)
    assert batch_size_study.learning_rate(args, 2) == pytest.approx(0.01 * math.sqrt(2 / 128))
    linear = batch_size_study.parse_args(["--lr-scaling", "linear", "--output-dir", str(tmp_path)])
    assert batch_size_study.learning_rate(linear, 512) == pytest.approx(0.04)
    point = batch_size_study.point_args(args, "gn", 8, 2)
    assert (point.batch_size, point.seed, point.epochs, point.norms) == (8, 2, 2, ("gn",))
    assert point.lr == pytest.approx(0.01 * math.sqrt(8 / 128))


@pytest.mark.parametrize("flags, message", [
    (["--batch-sizes", "0", "8"], "--batch-sizes must all be >= 1; received 0"),
    (["--base-lr", "-1"], "--base-lr must be > 0; received -1.0"),
    (["--lr-scaling", "cubic"], "invalid choice: 'cubic'"),
])
def test_bad_values_exit_2_with_one_line(flags, message, capsys):
    with pytest.raises(SystemExit) as info:
        batch_size_study.parse_args(flags)
    err = capsys.readouterr().err
    assert info.value.code == 2 and message in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def sweep(mnist_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("sweep")
    assert batch_size_study.main(sweep_args(mnist_dir, output)) == 0
    return output


def test_sweep_writes_every_point_summary_figure_and_bn_table(sweep):
    summary = json.loads((sweep / "summary.json").read_text())
    points = {(run["norm"], run["batch_size"], run["seed"]) for run in summary["runs"]}
    assert points == {(norm, size, 1) for norm in model.NORMS for size in (8, 64)}
    for run in summary["runs"]:
        assert 0 <= run["final_accuracy"] <= 1 and run["final_ce"] > 0 and run["epochs"] == 1
        assert run["steps_per_epoch"] == math.ceil(384 / run["batch_size"])
        assert (sweep / run["norm"] / f"bs-{run['batch_size']}" / "seed-1" / "history.csv").is_file()
        config = json.loads((sweep / run["norm"] / f"bs-{run['batch_size']}" / "seed-1" / "config.json").read_text())
        assert config["batch_size"] == run["batch_size"] and config["lr"] == pytest.approx(run["lr"])
    assert "sqrt" in summary["settings"]["lr_rule"] and summary["settings"]["evaluated_on"] == "test"
    assert (sweep / "batch_size.png").read_bytes().startswith(b"\x89PNG")
    table = json.loads((sweep / "bn_test_time.json").read_text())
    # The smallest batch trained; 128 was not in this sweep. 128 test images: a test batch of 128 is one batch.
    assert [row["trained_batch_size"] for row in table["models"]] == [8]
    assert set(table["models"][0]["batch_statistics"]) == {"1", "8", "128"}
    bn = next(r for r in summary["runs"] if r["norm"] == "bn" and r["batch_size"] == 8)
    assert table["models"][0]["moving_averages"] == pytest.approx(bn["final_accuracy"], abs=1e-6)


def test_rerun_skips_finished_points(sweep, mnist_dir, capsys):
    histories = {path: path.read_text() for path in sweep.glob("*/bs-*/seed-1/history.csv")}
    assert batch_size_study.main(sweep_args(mnist_dir, sweep)) == 0
    out = capsys.readouterr().out
    assert out.count("already finished") == 6 and "epochs, peak lr" not in out
    assert {path: path.read_text() for path in histories} == histories


def test_killed_sweep_resumes_where_it_stopped(mnist_dir, tmp_path):
    from conftest import write_mnist_dir

    os.makedirs(tmp_path / "mnist")
    mnist = write_mnist_dir(tmp_path / "mnist", train_count=2000, test_count=64)
    command = [sys.executable, "batch_size_study.py", "--data-dir", mnist, "--output-dir", str(tmp_path / "out"),
               "--norm", "gn", "--epochs", "3", "--seeds", "1", "--batch-sizes", "16", "32", "--verbose", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "out" / "gn" / "bs-16" / "seed-1"
    second = tmp_path / "out" / "gn" / "bs-32" / "seed-1"
    deadline = time.time() + 240
    while time.time() < deadline and not (second / "history.csv").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (first / "result.json").exists() and not (second / "result.json").exists()
    finished = (first / "history.csv").read_text()
    interrupted = (second / "history.csv").read_text()

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "gn batch 16 seed 1: already finished" in resumed.stdout
    assert (first / "history.csv").read_text() == finished  # not retrained
    rows = (second / "history.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[:len(interrupted.splitlines()) - 1] == interrupted.splitlines()[:-1]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(run["batch_size"], run["epochs"]) for run in summary["runs"]] == [(16, 3), (32, 3)]


def test_batch_statistics_evaluation_equals_inference_for_gn_but_not_bn(mnist_dir):
    from data import load_idx_dir

    _, (images, labels) = load_idx_dir(mnist_dir)
    keras.utils.set_random_seed(3)
    gn = model.build_model("gn")
    expected = float(np.mean(model.predict_probabilities(gn, images).argmax(axis=1) == labels))
    for batch in (1, 7, 128):
        assert batch_size_study.accuracy_with_batch_statistics(gn, images, labels, batch) == pytest.approx(expected)
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
        f"{label}, mean of 2 seeds" for label in model.NORM_LABELS.values()]
    np.testing.assert_allclose(accuracy.lines[0].get_ydata(), [98.075] * 3)
    assert len(accuracy.collections) == 3 and "after 2 epochs" in accuracy.get_title()
    assert "batch size" in accuracy.get_xlabel() and "cross-entropy" in ce.get_ylabel()


def test_defaults_rerun_the_committed_study():
    # README's command (`python batch_size_study.py --output-dir results/batch_size`) must reproduce that study.
    with open(os.path.join(ROOT, "results", "batch_size", "summary.json")) as handle:
        committed = json.load(handle)["settings"]
    args = batch_size_study.parse_args(["--output-dir", "unused"])
    assert {key: committed[key] for key in ("epochs", "batch_sizes", "seeds", "base_lr", "base_batch_size",
                                            "lr_scaling", "train_limit", "test_limit")} == {
        "epochs": args.epochs, "batch_sizes": args.batch_sizes, "seeds": args.seeds, "base_lr": args.base_lr,
        "base_batch_size": args.base_batch_size, "lr_scaling": args.lr_scaling, "train_limit": args.train_limit,
        "test_limit": args.test_limit}
