"""deploy.py: BN folded into the conv, LiteRT export (float32 and int8), the committed LiteRT files against the
study's numbers, predict.py on the deployed files, and one line for each bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnist_norm import data
from mnist_norm import deploy
import deploy as deploy_command
from mnist_norm import network as model
from mnist_norm import reading as predict
from mnist_norm import rundir
from mnist_norm import runtimes
from mnist_norm import variants
import train

from conftest import committed, RESULTS, ROOT  # noqa: E402
NORM_OPS = {"RSQRT", "SQUARE", "SUB"}  # what measuring an image's statistics adds to a graph



def test_folded_bn_is_a_plain_conv_network_equal_to_the_bn_model_in_inference_mode(test_set):
    network = rundir.load_trained_model(os.path.join(RESULTS, "bn", "seed-1"))
    folded = deploy.fold_batch_norm(network)
    kinds = {type(layer).__name__ for layer in folded.layers}
    assert not any("Normalization" in kind for kind in kinds) and "Conv2D" in kinds
    assert all(layer.use_bias for layer in folded.layers if isinstance(layer, model.keras.layers.Conv2D)
               and layer.name != "head_conv")
    images = test_set[0][:500].astype("float32")  # real digits
    expected = network.predict(images, verbose=0)
    got = folded.predict(images, verbose=0)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=1e-4 * scale)
    # ... and not by accident: the BN model's own kernels, unfolded, give other logits
    for layer in folded.layers:
        if isinstance(layer, model.keras.layers.Conv2D) and layer.name != "head_conv":
            layer.set_weights([network.get_layer(layer.name).kernel.numpy(), np.zeros(layer.filters, "float32")])
    assert np.abs(folded.predict(images[:50], verbose=0) - expected[:50]).max() > 1e-2 * scale


def test_folding_refuses_a_model_without_batch_norm():
    with pytest.raises(deploy.DeployError, match="no BatchNormalization"):
        deploy.fold_batch_norm(model.build_model("gn"))


def _ops(norm, runtime):
    return runtimes.load(os.path.join(RESULTS, norm, "seed-1"), runtime).ops()


@pytest.mark.parametrize("runtime", runtimes.LITERT)
def test_converted_bn_graph_holds_no_normalization_and_gn_ln_in_graphs_hold_their_statistics(runtime):
    bn, control = _ops("bn", runtime), _ops("none", runtime)
    assert set(bn) == set(control)  # BN folded into its conv: the control's plain graph
    assert not NORM_OPS & set(bn)
    assert bn["CONV_2D"] == control["CONV_2D"] == 6
    for norm in ("gn", "ln", "in"):
        ops = _ops(norm, runtime)
        assert ops["RSQRT"] == 5 and ops["SQUARE"] >= 5 and ops["MEAN"] > bn["MEAN"]  # one per normalized conv


def _deployed():
    """The variants the committed deployment study measured (its summary's rows)."""
    with open(os.path.join(RESULTS, "deploy", "summary.json")) as handle:
        return tuple(dict.fromkeys(row["norm"] for row in json.load(handle)["runs"]))


@pytest.mark.parametrize("norm", _deployed())
def test_committed_litert_files_match_the_deploy_study(norm, test_set):
    with open(os.path.join(RESULTS, "deploy", "summary.json")) as handle:
        summary = json.load(handle)
    images, labels = test_set
    for runtime in ("litert-f32", "litert-int8"):
        row, = [r for r in summary["runs"] if (r["norm"], r["seed"], r["runtime"]) == (norm, 1, runtime)]
        path = runtimes.path(os.path.join(RESULTS, norm, "seed-1"), runtime)
        assert os.path.getsize(path) == row["bytes"]
        litert = runtimes.LiteRTModel(path)
        assert litert.ops() == row["ops"]
        # int8 runs integer kernels; float32 may flip a borderline digit on another CPU
        assert deploy.accuracy(litert, images, labels) == pytest.approx(row["accuracy"], abs=3e-4)


def test_every_study_row_has_the_issues_fields_and_a_machine():
    with open(os.path.join(RESULTS, "deploy", "summary.json")) as handle:
        summary = json.load(handle)
    keys = {"norm", "seed", "runtime", "accuracy", "ops", "bytes", "latency_ms_batch1", "images_per_s_batch256"}
    assert {(r["norm"], r["seed"], r["runtime"]) for r in summary["runs"]} == {
        (n, s, r) for n in _deployed() for s in (1, 2, 3) for r in runtimes.NAMES}
    assert {"bn", "gn", "ln", "in", "none"} <= set(_deployed())
    assert all(keys <= set(row) for row in summary["runs"])
    assert summary["method"]["latency_calls"] >= 300 and summary["method"]["threads"] == 1
    assert summary["method"]["keras_threads"] == 1
    assert summary["machine"]["processor"] and summary["ceiling"]["images_per_s"] > 0


@pytest.mark.parametrize("runtime", runtimes.LITERT)
def test_predict_on_the_litert_files_gives_the_keras_models_digits(runtime, test_set):
    images = test_set[0][:30]
    fields = [predict.read_number(image[:, :, 0])[0].field for image in images]
    reference, deployed = runtimes.load_models(RESULTS, "keras"), runtimes.load_models(RESULTS, runtime)
    assert set(deployed) == set(reference) == set(committed(variants.READERS))
    same, total = 0, 0
    for field in fields:
        expected, got = predict.predict(reference, field), predict.predict(deployed, field)
        for norm in expected:
            same += int(np.argmax(got[norm]) == np.argmax(expected[norm]))
            total += 1
            if runtime == "litert-f32":
                np.testing.assert_allclose(got[norm], expected[norm], atol=0.02)
    # float32: the same digits; int8 (probabilities in steps of 1/256) may lose a close call or two
    assert same == total if runtime == "litert-f32" else same >= 0.97 * total, f"{same} of {total}"


@pytest.fixture(scope="module")
def tiny_run(mnist_dir, tmp_path_factory):
    """A 1-epoch BN run and a GN run on the tests' tiny data, exported with deploy.py."""
    output = tmp_path_factory.mktemp("deploy")
    for norm in ("bn", "gn"):
        assert train.main(["--data-dir", mnist_dir, "--output-dir", str(output), "--norm", norm, "--epochs", "1",
                           "--batch-size", "32", "--verbose", "0"]) == 0
    assert deploy_command.main(["export", "--runs", str(output), "--data-dir", mnist_dir]) == 0
    return output


@pytest.mark.slow
def test_export_writes_both_files_that_answer_like_the_keras_model(tiny_run, mnist_dir):
    _, (images, _) = data.load_idx_dir(mnist_dir)
    for norm in ("bn", "gn"):
        run_dir = os.path.join(tiny_run, norm)
        network = rundir.load_trained_model(run_dir)
        expected = model.predict_probabilities(network, images)
        litert = runtimes.load(run_dir, "litert-f32")
        np.testing.assert_allclose(litert(images), expected, atol=1e-4)
        int8 = runtimes.load(run_dir, "litert-int8")
        assert int8.input["dtype"] == np.uint8 and int8.input["quantization"] == (1.0, 0)  # raw pixels as they are
        assert np.mean(int8(images).argmax(axis=1) == expected.argmax(axis=1)) >= 0.9
        ops = litert.ops()
        assert (NORM_OPS & set(ops)) == (set() if norm == "bn" else NORM_OPS)


@pytest.mark.slow
def test_a_second_export_leaves_the_files_alone_unless_forced(tiny_run, mnist_dir, capsys):
    path = runtimes.path(os.path.join(tiny_run, "gn"), "litert-f32")
    before = os.stat(path).st_mtime_ns
    assert deploy_command.main(["export", "--runs", str(tiny_run), "--data-dir", mnist_dir, "--norm", "gn"]) == 0
    assert "already exported (--force converts it again)" in capsys.readouterr().out
    assert os.stat(path).st_mtime_ns == before
    os.remove(path)  # a run without its files (retrained, or never exported) is converted
    assert deploy_command.main(["export", "--runs", str(tiny_run), "--data-dir", mnist_dir, "--norm", "gn"]) == 0
    assert os.path.isfile(path)


@pytest.mark.slow
def test_study_writes_every_runtime_of_every_run(tiny_run, tmp_path):
    assert deploy_command.main(["study", "--runs", str(tiny_run), "--output-dir", str(tmp_path), "--latency-calls", "3"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted((r["norm"], r["runtime"]) for r in summary["runs"]) == sorted(
        (n, r) for n in ("bn", "gn") for r in runtimes.NAMES)
    for row in summary["runs"]:
        assert row["latency_ms_batch1"] > 0 and row["images_per_s_batch256"] > 0 and 0 <= row["accuracy"] <= 1
        assert 0 < row["fraction_of_ceiling"]
    assert (tmp_path / "deploy.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_bad_input_gets_one_line_and_a_non_zero_exit(tiny_run, tmp_path):
    unfinished = tmp_path / "unfinished"
    (unfinished / "gn").mkdir(parents=True)
    (unfinished / "gn" / "config.json").write_text("{}")
    damaged = tmp_path / "damaged"
    (damaged / "bn").mkdir(parents=True)
    for name in ("result.json", "config.json", "model.keras"):
        (damaged / "bn" / name).write_bytes((tiny_run / "bn" / name).read_bytes())
    (damaged / "bn" / rundir.FILES["litert-f32"]).write_bytes((tiny_run / "bn" / rundir.FILES["litert-f32"]).read_bytes()[:3000])
    digit = tmp_path / "digit.png"
    predict.Image.fromarray(np.kron(np.eye(4, dtype=np.uint8) * 255, np.ones((7, 7), np.uint8))).save(digit)
    cases = [
        (["deploy.py", "export", "--runs", str(unfinished)], "no finished run with a model.keras"),
        (["deploy.py", "study", "--runs", str(damaged), "--output-dir", str(tmp_path / "out")],
         "missing: run `python deploy.py export"),
        (["predict.py", str(digit), "--models", str(damaged), "--runtime", "litert"],
         "not a LiteRT model, or a damaged"),
    ]
    for argv, message in cases:
        result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1 and len(errors) == 1 and message in errors[0], (argv, result.stderr)
    assert not (tmp_path / "out" / "summary.json").exists()
    for argv in (["study", "--latency-calls", "0"], ["export", "--runs", str(tmp_path / "missing")]):
        with pytest.raises(SystemExit) as info:
            deploy_command.parse_args(argv)
        assert info.value.code == 2
