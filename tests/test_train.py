"""End-to-end behaviour of train.py on tiny synthetic IDX data."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_norm import config as config_lib
from mnist_norm import data
from mnist_norm import network as model
from mnist_norm import quiet_tf
from mnist_norm import rundir  # noqa: E402
from mnist_norm import variants
import train
from mnist_norm import training

from conftest import ROOT  # noqa: E402


def smoke_args(mnist_dir, output_dir, *extra):
    return ["--data-dir", mnist_dir, "--output-dir", str(output_dir), "--epochs", "2",
            "--batch-size", "16", "--verbose", "0", *extra]


@pytest.fixture(scope="module")
def smoke_run(mnist_dir, tmp_path_factory):
    """One 2-epoch run of all three variants, shared by the tests that only read its files."""
    output = tmp_path_factory.mktemp("smoke")
    assert train.main(smoke_args(mnist_dir, output)) == 0
    return output


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.parametrize("norm", model.NORMS)
def test_smoke_run_writes_history_models_and_export(smoke_run, norm):
    rows = read_rows(smoke_run / norm / "history.csv")
    assert list(rows[0]) == list(rundir.HISTORY_COLUMNS)
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    for row in rows:
        assert 0 <= float(row["val_accuracy"]) <= 1 and float(row["epoch_seconds"]) > 0
    if norm == "bn":  # Keras adds the L1 penalty to loss but not to the plain cross-entropy
        assert float(rows[-1]["loss"]) > float(rows[-1]["ce"])
    else:
        assert float(rows[-1]["loss"]) == pytest.approx(float(rows[-1]["ce"]), rel=1e-4)
    assert (smoke_run / norm / "model.keras").is_file()
    assert (smoke_run / norm / "saved_model" / "saved_model.pb").is_file()
    assert not (smoke_run / norm / "backup").exists()
    assert not [name for name in os.listdir(smoke_run / norm) if name.startswith(".tmp-")]


@pytest.mark.slow
def test_smoke_run_summary_and_figures(smoke_run):
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert set(summary["variants"]) == set(model.NORMS)
    for norm, entry in summary["variants"].items():
        run = entry["runs"][0]
        history = read_rows(smoke_run / norm / "history.csv")
        assert run["final_accuracy"] == pytest.approx(float(history[-1]["val_accuracy"]))
        assert run["best_accuracy"] == max(float(r["val_accuracy"]) for r in history)
        assert entry["trainable_params"] <= 8000 and run["seed"] == 1 and run["train_seconds"] > 0
    assert summary["versions"]["tensorflow"] == tf.__version__
    assert summary["versions"]["keras"] == keras.__version__
    for name in ("test_loss.png", "test_accuracy.png", "misclassified_bn.png", "misclassified_gn.png",
                 "misclassified_ln.png"):
        assert (smoke_run / name).read_bytes().startswith(b"\x89PNG")


def test_learns_the_synthetic_digits(smoke_run):
    summary = json.loads((smoke_run / "summary.json").read_text())
    accuracies = {norm: entry["final_accuracy_mean"] for norm, entry in summary["variants"].items()}
    assert min(accuracies.values()) > 0.5, accuracies  # chance is 0.1


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["bn", "gn"])
def test_saved_model_serves_probabilities_equal_to_keras(smoke_run, mnist_dir, norm):
    (_, _), (images, _) = data.load_idx_dir(mnist_dir)
    pixels = images[:16].astype("float32")
    keras_model = keras.models.load_model(smoke_run / norm / "model.keras")
    expected = model.predict_probabilities(keras_model, pixels)
    loaded = tf.saved_model.load(str(smoke_run / norm / "saved_model"))  # keep a reference: it owns the variables
    served = loaded.serve(tf.constant(pixels)).numpy()
    assert served.shape == (16, 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(served, expected, atol=1e-5)


@pytest.mark.slow
def test_finished_runs_are_skipped_unless_forced(smoke_run, mnist_dir, capsys, monkeypatch):
    before = (smoke_run / "ln" / "history.csv").read_text()
    # Nothing trained and the summary unchanged: no figure is drawn again (another Matplotlib draws other bytes).
    drawn = []
    monkeypatch.setattr(training.rundir, "save_figure", lambda figure, path: drawn.append(path))
    assert train.main(smoke_args(mnist_dir, smoke_run, "--norm", "ln")) == 0
    assert "already finished" in capsys.readouterr().out and drawn == []
    assert (smoke_run / "ln" / "history.csv").read_text() == before


def folder_state(folder):
    """{relative path: bytes} of every file below `folder`."""
    return {os.path.relpath(os.path.join(top, name), folder): open(os.path.join(top, name), "rb").read()
            for top, _, names in os.walk(folder) for name in names}


def earlier_run(folder, mnist_dir, finished, *flags):
    """A run folder as train.py leaves it after `flags` (on mnist_dir): config.json, a history of 3 epochs and, when
    finished, result.json (its contents are not read here)."""
    config = config_lib.configs(config_lib.flag_parser().parse_args(smoke_args(mnist_dir, folder, *flags)))[0]
    run_dir = folder / config.norm
    run_dir.mkdir(parents=True)
    rundir.write_json(rundir.file(run_dir, "config"), config.record(data.source_name(config.data, config.data_dir)))
    rundir.write_history(rundir.file(run_dir, "history"),
                         [{column: epoch if column == "epoch" else 0.5 for column in rundir.HISTORY_COLUMNS}
                          for epoch in (1, 2, 3)])
    if finished:
        rundir.write_json(rundir.file(run_dir, "result"), {"norm": config.norm, "seed": 1})
    return run_dir


@pytest.mark.parametrize("finished, what, way", [(True, "a finished run", "--force to replace it"),
                                                 (False, "an unfinished run (3 epochs done)",
                                                  "--force to start it afresh")])
def test_a_run_of_other_settings_is_never_replaced_without_force(mnist_dir, tmp_path, capsys, finished, what, way):
    run_dir = earlier_run(tmp_path, mnist_dir, finished, "--norm", "ln", "--epochs", "20")
    before = folder_state(tmp_path)
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "ln", "--train-limit", "100")) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"train.py: error: {run_dir} holds {what} of other settings (epochs 20 there, 2 asked; "
                     f"train-limit all there, 100 asked); give another --output-dir, or {way}")
    assert folder_state(tmp_path) == before  # nothing written: not the summary, not a figure


def test_the_library_refuses_to_replace_a_run_of_other_settings(mnist_dir, tmp_path):
    run_dir = earlier_run(tmp_path, mnist_dir, True, "--norm", "gn")
    config = config_lib.TrainConfig(norm="gn", epochs=3, data_dir=mnist_dir, output_dir=str(tmp_path)).validate()
    before = folder_state(tmp_path)
    with pytest.raises(config_lib.RunConflict, match="epochs 2 there, 3 asked"):
        training.train_run(config, training.load_splits(config), str(run_dir))
    assert folder_state(tmp_path) == before


def test_a_summary_holds_only_runs_of_the_commands_settings(tmp_path):
    def run(norm, seed, folder, **changes):
        record = config_lib.TrainConfig(norm=norm, seed=seed, **changes).record("bundled:data/mnist")
        return {"norm": norm, "seed": seed, "config": record, "run_dir": str(tmp_path / folder)}

    found = {"ln": [run("ln", 1, "ln/seed-1"), run("ln", 2, "ln/seed-2"), run("ln", 3, "ln/seed-3", epochs=2)],
             "gn": [run("gn", 1, "gn/seed-1", groups=2)],  # not asked for: the same recipe, its own groups
             "in": [run("in", 1, "in/seed-1", train_limit=2000)],  # another recipe
             "bn": [run("bn", 1, "bn"), run("bn", 1, "bn/seed-1")]}  # seed 1 twice: the command's folder wins
    asked = [config_lib.TrainConfig(norm=norm, seed=seed) for norm in ("ln", "bn") for seed in (1, 2)]
    kept, left_out = training.summarized_runs(found, [(c, str(tmp_path / c.norm / f"seed-{c.seed}")) for c in asked],
                                              "bundled:data/mnist")
    assert {norm: [r["run_dir"] for r in runs] for norm, runs in kept.items()} == {
        "ln": [str(tmp_path / "ln/seed-1"), str(tmp_path / "ln/seed-2")], "gn": [str(tmp_path / "gn/seed-1")],
        "bn": [str(tmp_path / "bn/seed-1")]}
    assert sorted(left_out) == [str(tmp_path / "in/seed-1"), str(tmp_path / "ln/seed-3")]


@pytest.mark.slow
def test_a_variant_is_its_record_and_its_layer(mnist_dir, tmp_path):
    """Adding a variant is a record in variants.py and its layer in network.LAYERS, nothing else: it trains, its
    config records no other variant's settings, its summary and grid carry its label, and other variants' flags are
    refused for it."""
    variants.register(variants.Variant("throwaway", "Throwaway", "#123456", groups="one"))
    model.LAYERS["throwaway"] = lambda channels, name, groups, synchronized: keras.layers.LayerNormalization(
        axis=(1, 2, 3), name=name)
    try:
        flags = smoke_args(mnist_dir, tmp_path, "--norm", "throwaway", "--epochs", "1", "--batch-size", "64")
        assert train.main(flags) == 0
        result = json.loads((tmp_path / "throwaway" / "result.json").read_text())
        assert result["epochs"] == 1 and result["config"]["norm"] == "throwaway"
        assert result["config"]["l1"] is None and result["config"]["groups"] is None
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert list(summary["variants"]) == ["throwaway"] and (tmp_path / "misclassified_throwaway.png").is_file()
        assert model.groups_per_layer("throwaway") == [1] * len(model.ARCHITECTURE)
        assert variants.NORM_LABELS["throwaway"] == "Throwaway" and "throwaway" not in variants.BATCH_DEPENDENT
        with pytest.raises(SystemExit) as refused:
            train.parse_args(flags + ["--groups", "2"])
        assert refused.value.code == 2
    finally:
        variants.unregister("throwaway")
        model.LAYERS.pop("throwaway")
    assert "throwaway" not in variants.ALL_NORMS


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--norm", "wn"], "invalid choice: 'wn'"),
        (["--epochs", "0"], "--epochs must be >= 1; received 0"),
        (["--batch-size", "-4"], "--batch-size must be >= 1; received -4"),
        (["--l1", "-0.1"], "--l1 must be a finite number >= 0; received -0.1"),
        (["--groups", "3"], "--groups 3 does not divide the channel counts [8, 12, 16]; allowed: 1, 2, 4"),
        (["--seeds", "1", "-2"], "--seed must be in [0, 2147483647]; received -2"),
        (["--train-limit", "0"], "--train-limit must be >= 1"),
        (["--epochs", "two"], "invalid int value: 'two'"),
        (["--data", "mnist"], "argument --data: invalid choice: 'mnist'"),
        (["--data", "tfds", "--data-dir", "x"], "--data tfds and --data-dir 'x' name two sources; give one"),
        (["--architecture", "8,q"], "--architecture: architecture token 'q' in '8,q' is not"),
        (["--architecture", "8p,12,6", "--norm", "gn"], "--groups 4 does not divide the channel counts [6, 8, 12]"),
        (["--zoom", "1.5"], "--zoom must be in [0, 1); received 1.5"),
        (["--rotation", "-3"], "--rotation must be in [0, 180); received -3.0"),
        (["--ema", "1"], "--ema must be in [0, 1) (0: off); received 1.0"),
    ],
)
def test_cli_rejects_bad_values_with_exit_2(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        train.parse_args(["--output-dir", str(tmp_path), *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_ema_run_evaluates_and_exports_the_averaged_weights(mnist_dir, tmp_path):
    flags = ["--norm", "gn", "--ema", "0.9"]
    assert train.main(smoke_args(mnist_dir, tmp_path, *flags)) == 0
    config = json.loads((tmp_path / "gn" / "config.json").read_text())
    assert config["ema"] == 0.9
    assert "ema" not in config_lib.TrainConfig(norm="gn").record("x")
    # The exported model holds the averaged weights, and the history's last evaluation used the same weights.
    _, configs = train.parse_args(smoke_args(mnist_dir, tmp_path, *flags))
    _, evaluation, _ = training.load_splits(configs[0])
    trained = keras.models.load_model(tmp_path / "gn" / "model.keras")
    logits = trained.predict(evaluation[0], verbose=0)
    ce = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(evaluation[1], logits))
    last = read_rows(tmp_path / "gn" / "history.csv")[-1]
    assert ce == pytest.approx(float(last["val_ce"]), rel=1e-4)
    # ... which are not the last raw weights: without the average the same run ends elsewhere.
    plain = tmp_path / "plain"
    assert train.main(smoke_args(mnist_dir, plain, "--norm", "gn")) == 0
    raw = keras.models.load_model(plain / "gn" / "model.keras").get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(raw, trained.get_weights()))


@pytest.mark.slow
def test_architecture_and_augmentation_flags_reach_the_run(mnist_dir, tmp_path):
    flags = ["--norm", "bn", "--epochs", "1", "--architecture", "8p,12,16", "--zoom", "0.1", "--shear", "0.05"]
    assert train.main(smoke_args(mnist_dir, tmp_path, *flags)) == 0
    config = json.loads((tmp_path / "bn" / "config.json").read_text())
    assert config["architecture"] == "8p,12,16"
    assert config["augment"] == {"rotation_degrees": 7.0, "shift_pixels": 2.0, "zoom": 0.1, "shear": 0.05}
    trained = keras.models.load_model(tmp_path / "bn" / "model.keras")
    convs = [layer.name for layer in trained.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == ["block1_conv", "block2_conv", "block3_conv", "head_conv"]
    assert trained.get_layer("block1_pool") is not None
    _, configs = train.parse_args(["--no-augment", "--output-dir", str(tmp_path)])
    assert configs[0].record("x")["augment"] is False


def test_checking_the_flags_writes_nothing(tmp_path):
    _, configs = train.parse_args(["--output-dir", str(tmp_path / "new"), "--seeds", "1", "2"])
    assert [(c.norm, c.seed) for c in configs] == [(n, s) for n in model.NORMS for s in (1, 2)]
    assert not (tmp_path / "new").exists() and os.listdir(tmp_path) == []


@pytest.mark.slow
def test_unwritable_output_dir_ends_with_one_line_and_exit_1(mnist_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert train.main(smoke_args(mnist_dir, blocker / "out", "--norm", "gn", "--epochs", "1")) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(blocker) in errors[0] and "Traceback" not in err, err


def test_progress_bars_only_on_a_terminal_or_in_a_notebook():
    class Stream:
        def __init__(self, tty):
            self.isatty = lambda: tty

    assert config_lib.progress_verbosity(Stream(True)) == 1
    assert config_lib.progress_verbosity(Stream(False)) == ("ipykernel" in sys.modules and 1 or 2)
    args = config_lib.flag_parser().parse_args(["--verbose", "0"])
    assert config_lib.configs(args)[0].verbose == 0  # asked for: kept


@pytest.mark.slow
def test_a_log_in_a_file_gets_one_line_per_epoch_not_progress_bars(mnist_dir, tmp_path):
    log = tmp_path / "train.log"
    with open(log, "w") as handle:
        result = subprocess.run([sys.executable, "train.py", "--data-dir", mnist_dir, "--output-dir",
                                 str(tmp_path / "o"), "--norm", "gn", "--epochs", "2", "--batch-size", "64"],
                                cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, timeout=300)
    assert result.returncode == 0
    text = log.read_text()
    assert "\r" not in text and "\x08" not in text and "━" not in text
    assert "gn seed 1: training 2 epochs on 384 images" in text
    epochs = [k for k, line in enumerate(text.splitlines()) if line.startswith("Epoch ")]
    assert len(epochs) == 2 and len(text.splitlines()) < 20, text  # each epoch: its number, then one line


def test_one_epoch_is_spelled_so(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "train_run", lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "gn", "--epochs", "1")) == 130
    assert "gn seed 1: training 1 epoch on 384 images" in capsys.readouterr().out


@pytest.mark.slow
def test_a_data_folder_without_mnist_exits_1_and_a_missing_one_2_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, code in (("empty", 1), ("missing", 2)):
        result = subprocess.run(
            [sys.executable, "train.py", "--data-dir", str(tmp_path / folder), "--output-dir", str(tmp_path / "o")],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == code and len(lines) == 1, result.stderr
        assert str(tmp_path / folder) in lines[0] and "Traceback" not in result.stderr
        assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_default_source_is_the_bundled_mnist(tmp_path):
    # The command a new user runs first, offline: no data flag at all.
    result = subprocess.run(
        [sys.executable, "train.py", "--norm", "bn", "--epochs", "1", "--train-limit", "2000", "--test-limit", "500",
         "--output-dir", str(tmp_path), "--verbose", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((tmp_path / "bn" / "result.json").read_text())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert run["config"]["data"] == summary["variants"]["bn"]["config"]["data"] == "bundled:data/mnist"
    assert run["final_accuracy"] > 0.5  # real digits, learnt in one short epoch


OFFLINE = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError(101, "Network is unreachable")

socket.create_connection = refuse
import train
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_tfds_without_network_fails_within_a_minute_with_one_line(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE, "--data", "tfds", "--norm", "bn", "--output-dir", str(tmp_path / "o")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TFDS_DATA_DIR": str(tmp_path / "empty-tfds-cache")},
    )
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot be reached" in errors[0] and "--data-dir" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "bn").exists()  # nothing half-written


def test_limits_larger_than_the_data_are_clamped_with_notice(mnist_dir, tmp_path, capsys):
    _, configs = train.parse_args(smoke_args(mnist_dir, tmp_path, "--train-limit", "100000", "--test-limit", "50"))
    train_split, test_split, _ = training.load_splits(configs[0])
    assert len(train_split[0]) == 384 and len(test_split[0]) == 50
    assert "--train-limit 100000 is larger than the 384 available" in capsys.readouterr().out


@pytest.mark.slow
def test_divergence_stops_that_variant_keeps_others_and_exits_1(mnist_dir, tmp_path, capsys):
    # First a good gn run, then a bn run with an absurd learning rate.
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "gn", "--epochs", "1")) == 0
    code = train.main(smoke_args(mnist_dir, tmp_path, "--norm", "bn", "--epochs", "1", "--lr", "1e30"))
    assert code == 1
    assert "bn (seed 1): loss became NaN/inf in epoch 1" in capsys.readouterr().err
    assert (tmp_path / "gn" / "result.json").exists() and not (tmp_path / "bn" / "result.json").exists()
    assert not (tmp_path / "bn" / "backup").exists()  # NaN weights are not resumed from
    assert list(json.loads((tmp_path / "summary.json").read_text())["variants"]) == ["gn"]


@pytest.mark.slow
def test_several_seeds_get_their_own_folders_and_mean_std(mnist_dir, tmp_path):
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "ln", "--epochs", "1", "--seeds", "1", "2")) == 0
    entry = json.loads((tmp_path / "summary.json").read_text())["variants"]["ln"]
    accuracies = [run["final_accuracy"] for run in entry["runs"]]
    assert [run["seed"] for run in entry["runs"]] == [1, 2]
    assert (tmp_path / "ln" / "seed-2" / "history.csv").exists()
    assert entry["final_accuracy_mean"] == pytest.approx(np.mean(accuracies), abs=1e-6)
    assert entry["final_accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-6)


@pytest.mark.slow
def test_deterministic_runs_repeat_exactly(mnist_dir, tmp_path):
    def run(folder, *extra):
        code = subprocess.run(
            [sys.executable, "train.py", *smoke_args(mnist_dir, folder, "--norm", "bn", "--deterministic",
                                                     "--train-limit", "200", *extra)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert code.returncode == 0, code.stderr[-2000:]
        rows = read_rows(folder / "bn" / "history.csv")
        weights = keras.models.load_model(folder / "bn" / "model.keras").get_weights()
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in rows], weights

    rows_a, weights_a = run(tmp_path / "a", "--steps-per-execution", "1")
    rows_b, weights_b = run(tmp_path / "b", "--steps-per-execution", "1")
    # Several steps per call of the compiled function (13 steps = 4 + 4 + 4 + 1): the same steps, same result.
    rows_c, weights_c = run(tmp_path / "c", "--steps-per-execution", "4")
    assert rows_a == rows_b == rows_c
    for a, b, c in zip(weights_a, weights_b, weights_c):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


# With --ema the optimizer also carries the moving average of the weights, which must survive the kill too.
@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--ema", "0.9"]], ids=["plain", "ema"])
def test_resume_after_sigkill_mid_epoch_equals_uninterrupted_run(tmp_path, extra):
    from conftest import kill_when, write_mnist_dir

    os.makedirs(tmp_path / "mnist_big")
    mnist = write_mnist_dir(tmp_path / "mnist_big", train_count=3000, test_count=200)

    def command(output):
        return [sys.executable, "train.py", "--data-dir", mnist, "--output-dir", str(output), "--norm", "bn",
                "--epochs", "4", "--batch-size", "32", "--verbose", "0", "--deterministic", *extra]

    output = tmp_path / "killed"
    history = output / "bn" / "history.csv"
    # 0.5 s after epoch 2's row: into the middle of epoch 3
    kill_when(command(output), lambda: history.exists() and len(read_rows(history)) >= 2, settle=0.5)
    before = read_rows(history)
    done_before = len(before)
    assert 2 <= done_before < 4, "the kill should land before the run finished"
    assert not (output / "bn" / "result.json").exists()

    resumed = subprocess.run(command(output), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_rows(history)
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4]
    # It did not start over: the epochs finished before the kill are kept as they were
    # (the last one may be redone if the kill fell between its history row and its backup).
    assert rows[: done_before - 1] == before[: done_before - 1]
    # TensorBoard continues the curves (epochs 1-4 once each, as in the history), and so does kernels.json.
    for split, prefix in (("train", ""), ("validation", "val_")):
        scalars = tensorboard_scalars(output / "tensorboard" / "bn" / split)
        assert scalars["epoch_ce"] == pytest.approx({k: float(r[f"{prefix}ce"]) for k, r in enumerate(rows)},
                                                    rel=1e-5), split
    assert [e["epoch"] for e in json.loads((output / "bn" / "kernels.json").read_text())] == [1, 2, 3, 4]

    # Same numbers as a run that was never interrupted: weights, optimizer state, LR
    # schedule, shuffle order and augmentation all continue where they were.
    reference = subprocess.run(command(tmp_path / "uninterrupted"), cwd=ROOT, capture_output=True, text=True,
                               timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = read_rows(tmp_path / "uninterrupted" / "bn" / "history.csv")
    for got, want in zip(rows, expected):
        for column in want:
            if column != "epoch_seconds":
                assert float(got[column]) == pytest.approx(float(want[column]), rel=1e-5, abs=1e-7), column
    resumed_net = keras.models.load_model(output / "bn" / "model.keras")
    reference_net = keras.models.load_model(tmp_path / "uninterrupted" / "bn" / "model.keras")
    for got, want in zip(resumed_net.weights, reference_net.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_mixed_precision_builds_and_trains(mnist_dir, tmp_path):
    try:
        assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "gn", "--epochs", "1", "--mixed-precision")) == 0
        assert keras.mixed_precision.global_policy().name in ("mixed_bfloat16", "mixed_float16")
        net = keras.models.load_model(tmp_path / "gn" / "model.keras")
        assert net.get_layer("block1_conv").compute_dtype in ("bfloat16", "float16")
        assert net.output.dtype == "float32"  # logits stay float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
    result = json.loads((tmp_path / "gn" / "result.json").read_text())
    assert result["precision"] == "mixed_bfloat16"
    assert np.isfinite(result["final_ce"]) and result["final_accuracy"] > 0.2


MIRRORED = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import train
sys.exit(train.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(mnist_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, *smoke_args(mnist_dir, tmp_path, "--norm", "bn", "--strategy", "mirrored", "--epochs", "4",
                                                     "--batch-size", "16")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "bn" / "result.json").read_text())
    assert run["replicas"] == 2 and run["global_batch_size"] == 32
    rows = read_rows(tmp_path / "bn" / "history.csv")
    assert len(rows) == 4 and all(np.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[-1]["val_accuracy"]) > 0.5


def tensorboard_scalars(logdir):
    """{tag: {step: value}} from every event file under `logdir`, read in the order they were written."""
    scalars = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(str(logdir), "events.out.tfevents.*")),
                       key=lambda p: (int(p.split(".tfevents.")[1].split(".")[0]), p)):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag.startswith("epoch_"):
                    scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return scalars


@pytest.mark.parametrize("norm", model.NORMS)
def test_tensorboard_logs_hold_every_epochs_scalars(smoke_run, norm):
    rows = read_rows(smoke_run / norm / "history.csv")
    train_logs = tensorboard_scalars(smoke_run / "tensorboard" / norm / "train")
    val_logs = tensorboard_scalars(smoke_run / "tensorboard" / norm / "validation")
    for tag, column in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"), ("epoch_ce", "ce"),
                        ("epoch_learning_rate", "lr")):
        assert train_logs[tag] == pytest.approx({k: float(r[column]) for k, r in enumerate(rows)}, rel=1e-5), tag
    for tag, column in (("epoch_loss", "val_loss"), ("epoch_accuracy", "val_accuracy"), ("epoch_ce", "val_ce")):
        assert val_logs[tag] == pytest.approx({k: float(r[column]) for k, r in enumerate(rows)}, rel=1e-5), tag


@pytest.mark.slow
def test_a_run_started_afresh_starts_its_tensorboard_curves_afresh(mnist_dir, tmp_path):
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "gn", "--epochs", "1")) == 0
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "gn", "--epochs", "2", "--force")) == 0
    logs = tmp_path / "tensorboard" / "gn" / "train"
    assert len(list(logs.glob("events.out.tfevents.*"))) == 1
    rows = read_rows(tmp_path / "gn" / "history.csv")
    assert tensorboard_scalars(logs)["epoch_ce"] == pytest.approx({k: float(r["ce"]) for k, r in enumerate(rows)},
                                                                rel=1e-5)


@pytest.mark.slow
def test_kernels_json_records_each_epochs_conv_kernels(smoke_run):
    epochs = json.loads((smoke_run / "bn" / "kernels.json").read_text())
    assert [e["epoch"] for e in epochs] == [1, 2]
    trained = keras.models.load_model(smoke_run / "bn" / "model.keras")
    for layer in trained.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.asarray(layer.kernel)
            assert epochs[-1]["kernel_norms"][layer.name] == pytest.approx(float(np.linalg.norm(kernel)), rel=1e-5)
            assert epochs[-1]["near_zero"][layer.name] == pytest.approx(float(np.mean(np.abs(kernel) < 1e-3)))


@pytest.mark.slow
def test_the_control_trains_by_name_but_is_not_part_of_all(mnist_dir, tmp_path, monkeypatch):
    assert [config.norm for config in train.parse_args(["--output-dir", str(tmp_path)])[1]] == list(model.NORMS)
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "none", "--epochs", "1")) == 0
    config = json.loads((tmp_path / "none" / "config.json").read_text())
    assert config["norm"] == "none" and config["l1"] is None
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["variants"]) == ["none"] and summary["variants"]["none"]["trainable_params"] == 7500
    # Beside the three, the control is in summary.json but stays out of the curves: they are the assignment's.
    drawn = []
    original = training.plots.plot_test_loss
    monkeypatch.setattr(training.plots, "plot_test_loss", lambda histories, *a, **k: drawn.append(list(histories))
                        or original(histories, *a, **k))
    assert train.main(smoke_args(mnist_dir, tmp_path, "--norm", "all", "--epochs", "1")) == 0
    assert drawn == [["bn", "gn", "ln"]]
    assert set(json.loads((tmp_path / "summary.json").read_text())["variants"]) == {"bn", "gn", "ln", "none"}


QUIET = """
import sys, warnings
from mnist_norm import quiet_tf
quiet_tf.start()
import tensorflow as tf
tf.config.list_physical_devices("GPU")
warnings.warn("a Python warning still shows")
print("first line of our own")
"""


@pytest.mark.parametrize("debug, level", [(False, None), (False, "1"), (False, "2"), (False, "3"), (True, None),
                                          (False, "0")])
@pytest.mark.slow
def test_commands_start_without_tensorflows_cpp_log_lines(debug, level):
    # The caller's warning filters (PYTHONWARNINGS=ignore) must not hide the warning this test expects to see.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    if level is not None:  # the user's own level: 1-3 (the usual advice) stays quiet, 0 asks for everything
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run([sys.executable, "-c", QUIET, *(["--debug"] if debug else [])], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "first line of our own\n"
    assert "UserWarning: a Python warning still shows" in result.stderr
    cpp = [line for line in result.stderr.splitlines() if quiet_tf.is_cpp_log_line(line)]
    if debug or level == "0":  # nothing hidden: TensorFlow on a CPU machine announces oneDNN / the missing CUDA driver
        assert cpp, result.stderr
    else:
        assert cpp == [], cpp


def test_cpp_log_lines_are_recognised_and_nothing_else():
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796161655.540199    2057 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796162152.113999    5574 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "2026-12-01 23:12:58.498714: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.",
    ]
    assert all(quiet_tf.is_cpp_log_line(line) for line in lines)
    for line in ("error: data/mnist: data folder not found", "Traceback (most recent call last):",
                 "<string>:5: UserWarning: careful", "E0000 is not a log line without its time stamp"):
        assert not quiet_tf.is_cpp_log_line(line), line


def _file_size_limit(limit):
    def apply():  # in the child: writes past `limit` bytes fail with EFBIG instead of killing the process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_full_disk_ends_with_one_line_and_exit_1_and_the_rerun_resumes(mnist_dir, tmp_path):
    # A file-size limit of 300 KB stands for a full disk: Keras' HDF5 backup would fail half-way and crash.
    def command(output):
        return [sys.executable, "train.py", "--data-dir", mnist_dir, "--output-dir", str(output), "--norm", "gn",
                "--epochs", "2", "--batch-size", "32", "--verbose", "0", "--deterministic"]

    full = subprocess.run(command(tmp_path / "out"), cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=_file_size_limit(300_000))
    assert full.returncode == 1, full.stderr[-2000:]
    # Whatever else the caller's log level or PYTHONWARNINGS lets through: one error line and no traceback (HDF5's
    # failed writes printed theirs as "Exception ignored ... Traceback").
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: no space left to write in ") and str(tmp_path) in errors[0]
    assert "Traceback" not in full.stderr, full.stderr[-2000:]
    assert not (tmp_path / "out" / "gn" / "result.json").exists()
    assert [int(row["epoch"]) for row in read_rows(tmp_path / "out" / "gn" / "history.csv")] == [1]
    # Space freed: the same command finishes, with the history of a run that never lacked space.
    assert subprocess.run(command(tmp_path / "out"), cwd=ROOT, capture_output=True, timeout=300).returncode == 0
    assert subprocess.run(command(tmp_path / "ref"), cwd=ROOT, capture_output=True, timeout=300).returncode == 0
    got, want = (read_rows(tmp_path / name / "gn" / "history.csv") for name in ("out", "ref"))
    assert [int(row["epoch"]) for row in got] == [1, 2]
    assert [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in got] == [
        {k: v for k, v in row.items() if k != "epoch_seconds"} for row in want]


# ----------------------------------------------------------------------------- provenance


@pytest.mark.parametrize("flags, message", [
    (["--norm", "ln", "--groups", "4"], "--groups 4 applies to --norm gn only; received --norm ln"),
    (["--norm", "gn", "--l1", "1e-3"], "--l1 0.001 applies to --norm bn only; received --norm gn"),
    (["--norm", "in", "--group-size", "2"], "--group-size 2 applies to --norm gn only; received --norm in"),
])
def test_a_norms_own_flag_for_another_norm_is_one_line_and_exit_2(flags, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        train.parse_args(flags)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"train.py: error: {message}"]


def test_a_norms_own_flag_applies_to_it_among_all_three():
    _, configs = train.parse_args(["--norm", "all", "--groups", "2", "--l1", "0"])
    assert [(c.norm, c.l1, c.groups) for c in configs] == [("bn", 0.0, 2), ("gn", 0.0, 2), ("ln", 0.0, 2)]
    assert [c.record("x")["groups"] for c in configs] == [None, 2, None]


def test_a_summary_keeps_the_machine_its_runs_were_made_on(tmp_path):
    """A summary rewritten elsewhere (its runs skipped as finished) names the runs' machine, not the rewriter's."""
    from mnist_norm import machine

    epyc = {"versions": {"tensorflow": "2.21.0"}, "machine": {"processor": "AMD EPYC"}}
    xeon = {"versions": {"tensorflow": "2.21.0"}, "machine": {"processor": "Intel Xeon"}}
    run = {"norm": "gn", "seed": 1, "trainable_params": 1, "evaluated_on": "test", "final_accuracy": 0.9,
           "final_ce": 0.1, "best_accuracy": 0.9, "mean_epoch_seconds": 8.0, "train_seconds": 160.0, "config": {}}
    summary = training.summarize(str(tmp_path), {"gn": [dict(run, environment=epyc)]})
    assert summary["machine"] == epyc["machine"] and "environment" not in summary["variants"]["gn"]["runs"][0]
    # Runs made before result.json recorded their machine keep the summary's earlier record.
    assert training.summarize(str(tmp_path), {"gn": [run]})["machine"] == epyc["machine"]
    mixed = training.summarize(str(tmp_path), {"gn": [dict(run, environment=epyc), dict(run, seed=2, environment=xeon)]})
    assert mixed["environments"] == [epyc, xeon] and "2 different machines" in mixed["note"]
    assert machine.of_runs([None], previous=None) == {"machine": "unknown: made before result.json recorded it"}


def test_runs_made_before_result_json_recorded_their_machine_keep_it_when_runs_of_another_join_them():
    from mnist_norm import machine

    earlier = {"versions": {"tensorflow": "2.21.0"}, "machine": {"processor": "AMD EPYC", "platform": "vm-1"}}
    later = {"versions": {"tensorflow": "2.21.0"}, "machine": {"processor": "AMD EPYC", "platform": "vm-2"}}
    first = machine.of_runs([None, None, later], machine.unrecorded(earlier))
    assert first["environments"] == [earlier, later] and first[machine.UNRECORDED] == earlier
    # Rewritten from itself (a rerun, or a run added), the summary gives the old runs the same record: nothing moves.
    assert machine.of_runs([None, None, later], machine.unrecorded(first)) == first
    assert machine.of_runs([later], machine.unrecorded(first)) == later  # the old runs gone: one machine again
