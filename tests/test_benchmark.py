import ast
import json
import os

import pytest

import benchmark
from mnist_norm import network as model

from conftest import ROOT  # noqa: E402


@pytest.mark.slow
def test_benchmark_reports_rates_and_ceiling(mnist_dir, tmp_path, capsys):
    output = tmp_path / "bench.json"
    assert benchmark.main(["--data-dir", mnist_dir, "--norm", "ln", "--images", "128", "--batch-size", "64",
                           "--repeats", "1", "--profile", "--output", str(output),
                           "--candidate", "small", "--architecture 8p,12,16 --zoom 0.1 --batch-size 32"]) == 0
    report = json.loads(output.read_text())
    entry = report["variants"]["ln"]
    assert entry["multiply_adds"] == model.multiply_adds(model.build_model("ln"))
    for key in ("train_img_per_s", "train_no_augment_img_per_s", "inference_img_per_s", "train_gflops"):
        assert entry[key] > 0
    assert report["matmul_gflops"] > 0 and report["settings"]["images"] == 128
    printed = capsys.readouterr().out
    assert "| LN | " in printed  # the README table, printed
    default, small = report["candidates"]["default"], report["candidates"]["small"]
    assert default["variants"] == report["variants"]
    assert default["architecture"] == model.architecture_spec(model.ARCHITECTURE)
    assert small["architecture"] == "8p,12,16" and small["augment"]["zoom"] == 0.1
    # A recipe's own batch size wins over the run's; the others keep the run's.
    assert (default["batch_size"], small["batch_size"]) == (64, 32)
    assert small["variants"]["ln"]["trainable_params"] == model.trainable_params(model.build_model("ln", architecture="8p,12,16"))
    assert small["epoch_seconds_all"] == 60000 / small["variants"]["ln"]["train_img_per_s"]
    assert "| small | `8p,12,16` | ±° 7, ±px 2, zoom 0.1 | 32 |" in printed
    assert f"| default | `{default['architecture']}` | ±° 7, ±px 2 | 64 |" in printed
    profiled = {row["layer"] for row in report["profile"]["ln"]}
    assert {"block2_conv", "block2_norm", "head_conv"} <= profiled
    assert abs(sum(row["share"] for row in report["profile"]["ln"]) - 1) < 1e-2


def test_torch_reference_mirrors_the_course_architecture():
    with open(os.path.join(ROOT, "torch_reference.py")) as handle:
        tree = ast.parse(handle.read())
    value = next(node.value for node in tree.body
                 if isinstance(node, ast.Assign) and node.targets[0].id == "COURSE_ARCHITECTURE")
    expected = tuple((s.name, s.filters, s.kernel_size, s.pool_after) for s in model.COURSE_ARCHITECTURE)
    assert ast.literal_eval(value) == expected


def test_bad_candidate_flags_stop_before_any_timing(capsys):
    with pytest.raises(SystemExit) as info:
        benchmark.main(["--candidate", "x", "--architecture 8,q"])
    assert info.value.code == 2 and "architecture token 'q'" in capsys.readouterr().err
