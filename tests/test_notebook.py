"""The notebook runs top to bottom in a smoke configuration and produces its figures."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import changed_files, write_mnist_dir

from conftest import ROOT  # noqa: E402


def readme_notebook_command():
    """The README's line that runs the notebook locally."""
    with open(os.path.join(ROOT, "README.md")) as handle:
        found = [line.split("  #")[0].strip() for line in handle if "papermill Normalization_Keras.ipynb" in line]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_the_committed_notebook_runs_as_committed_with_the_readmes_command(tmp_path, project_copy):
    """Its cells as committed, in order (no cell injected or replaced), run by the README's own command in a copy of
    the project, on tiny data through its NOTEBOOK_SMOKE switch: it trains, draws its figures, runs the shift and
    batch-size studies and starts the drawing page, and changes no committed file."""
    pytest.importorskip("papermill")
    (tmp_path / "mnist").mkdir()
    write_mnist_dir(tmp_path / "mnist")
    output_dir = tmp_path / "out"
    command = readme_notebook_command()
    executed = os.path.join(project_copy, command.split()[-1])
    notebook = os.path.join(ROOT, "Normalization_Keras.ipynb")
    # The kernel papermill starts inherits NOTEBOOK_SMOKE; papermill itself comes from this Python's environment.
    environment = {**os.environ, "NOTEBOOK_SMOKE": str(tmp_path),
                   "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    run = subprocess.run(command, shell=True, cwd=project_copy, env=environment, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert changed_files(project_copy) == []
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
    with open(executed) as handle:
        text = handle.read()
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


def test_the_notebooks_notes_say_how_its_outputs_were_made_and_name_what_exists():
    with open(os.path.join(ROOT, "Normalization_Keras.ipynb")) as handle:
        notebook = json.load(handle)
    notes = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    note = next(text for text in notes if text.startswith("The outputs saved in this notebook"))
    run = notebook["metadata"]["papermill"]
    assert run["parameters"] == {} and "no parameters" in note
    seconds = run["duration"]
    assert f"{seconds / 60:.1f} minutes ({seconds:.0f} s" in note
    assert "`outputs/notebook`" in note and readme_notebook_command() in note
    for name in re.findall(r"`([\w/.]+\.(?:py|md|txt|ipynb))`", "\n".join(notes)):
        assert os.path.exists(os.path.join(ROOT, name)), name
