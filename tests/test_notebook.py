"""The notebook runs top to bottom in a smoke configuration and produces its figures."""

import json
import os

import pytest

from conftest import write_mnist_dir

from conftest import ROOT  # noqa: E402


@pytest.mark.slow
def test_notebook_smoke_run(tmp_path):
    papermill = pytest.importorskip("papermill")
    mnist = write_mnist_dir(tmp_path)
    output_dir = tmp_path / "out"
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        os.path.join(ROOT, "Normalization_Keras.ipynb"), str(executed), cwd=ROOT, kernel_name="python3",
        parameters={"epochs": 1, "data_dir": mnist, "output_dir": str(output_dir), "train_limit": 256,
                    "test_limit": 128, "extra_args": ["--batch-size", "32"],
                    "batch_sizes": [8, 32], "batch_size_seeds": [1], "batch_size_epochs": 1},
        progress_bar=False, execution_timeout=600,
    )
    for name in ("summary.json", "test_loss.png", "test_accuracy.png", "misclassified_bn.png",
                 "misclassified_gn.png", "misclassified_ln.png"):
        assert (output_dir / name).is_file(), name
    sweep = json.loads((output_dir / "batch_size" / "summary.json").read_text())
    assert sorted({(run["norm"], run["batch_size"]) for run in sweep["runs"]}) == [
        (norm, size) for norm in ("bn", "gn", "ln") for size in (8, 32)]
    assert (output_dir / "batch_size" / "batch_size.png").is_file()
    shifted = json.loads((output_dir / "shift" / "summary.json").read_text())  # on the models just trained
    assert {(run["norm"], run["seed"]) for run in shifted["runs"]} == {(norm, 1) for norm in ("bn", "gn", "ln")}
    assert (output_dir / "shift" / "shift.png").is_file() and (output_dir / "tensorboard" / "gn" / "train").is_dir()
    text = executed.read_text()
    assert "image/png" in text and "| BN + L1" in text and "BN trained at batch 8: moving averages" in text
    assert f"tensorboard --logdir {output_dir / 'tensorboard'}" in text
    assert "drawing page at http://127.0.0.1:" in text



def test_committed_files_name_no_folder_of_the_machine_that_made_them():
    import glob
    import re

    paths = [os.path.join(ROOT, "Normalization_Keras.ipynb")] + glob.glob(os.path.join(ROOT, "results", "**", "*.json"),
                                                                          recursive=True)
    absolute = re.compile(r"(?<![\w.])/(?:root|home|work|tmp|Users|content|mnt|opt|var)/")
    for path in paths:
        with open(path) as handle:
            text = handle.read()
        assert str(ROOT) not in text and not absolute.search(text), os.path.relpath(path, ROOT)
