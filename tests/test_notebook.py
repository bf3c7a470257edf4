"""The notebook runs top to bottom in a smoke configuration and produces its figures."""

import os

import pytest

from conftest import write_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_notebook_smoke_run(tmp_path):
    papermill = pytest.importorskip("papermill")
    mnist = write_mnist_dir(tmp_path)
    output_dir = tmp_path / "out"
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        os.path.join(ROOT, "Normalization_Keras.ipynb"), str(executed), cwd=ROOT, kernel_name="python3",
        parameters={"epochs": 1, "data_dir": mnist, "output_dir": str(output_dir), "train_limit": 256,
                    "test_limit": 128, "extra_args": ["--batch-size", "32"]},
        progress_bar=False, execution_timeout=600,
    )
    for name in ("summary.json", "test_loss.png", "test_accuracy.png", "misclassified_bn.png",
                 "misclassified_gn.png", "misclassified_ln.png"):
        assert (output_dir / name).is_file(), name
    text = executed.read_text()
    assert "image/png" in text and "| BN + L1" in text
