"""The notebook runs top to bottom in a smoke configuration and produces its figures."""

import json
import os

import pytest

from conftest import write_mnist_dir

from conftest import ROOT  # noqa: E402


@pytest.mark.slow
def test_the_committed_notebook_runs_as_committed(tmp_path):
    """Its cells as committed, in order (no cell injected or replaced), on tiny data through its NOTEBOOK_SMOKE
    switch: it trains, draws its figures, runs the shift and batch-size studies and starts the drawing page."""
    papermill = pytest.importorskip("papermill")
    (tmp_path / "mnist").mkdir()
    write_mnist_dir(tmp_path / "mnist")
    output_dir = tmp_path / "out"
    executed = tmp_path / "executed.ipynb"
    notebook = os.path.join(ROOT, "Normalization_Keras.ipynb")
    old = os.environ.get("NOTEBOOK_SMOKE")
    os.environ["NOTEBOOK_SMOKE"] = str(tmp_path)  # the kernel papermill starts inherits it
    try:
        papermill.execute_notebook(notebook, str(executed), cwd=ROOT, kernel_name="python3", progress_bar=False,
                                   execution_timeout=600)
    finally:
        os.environ.pop("NOTEBOOK_SMOKE") if old is None else os.environ.__setitem__("NOTEBOOK_SMOKE", old)
    with open(notebook) as committed, open(executed) as ran:
        assert [c["source"] for c in json.load(committed)["cells"]] == [c["source"] for c in json.load(ran)["cells"]]
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



def test_no_injected_parameters_cell_is_committed():
    with open(os.path.join(ROOT, "Normalization_Keras.ipynb")) as handle:
        cells = json.load(handle)["cells"]
    assert not [c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in cells) == 1


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
