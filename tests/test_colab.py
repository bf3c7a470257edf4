"""colab.py: the Colab set-up installs only what is missing; the published URL is the same everywhere."""

import importlib.metadata
import json
import os
import re
import shutil

import pytest
from packaging.requirements import Requirement

from mnist_norm import colab

import colab as colab_command

from conftest import ROOT  # noqa: E402


def pins(name):
    with open(os.path.join(ROOT, name)) as handle:
        return dict(line.split("==") for line in map(str.strip, handle) if line and not line.startswith("#"))


def test_only_absent_or_out_of_range_requirements_are_installed():
    reqs = [Requirement("tensorflow>=2.19.0,<3"), Requirement("keras>=3.10.0,<4"), Requirement("numpy>=2.0.2,<3"),
            Requirement("tensorflow-datasets>=4.9.9")]
    runtime = {"tensorflow": "2.20.0", "keras": "3.9.2", "numpy": "2.0.2"}  # no tfds; keras too old

    def version_of(name):
        if name not in runtime:
            raise importlib.metadata.PackageNotFoundError(name)
        return runtime[name]

    assert [str(r) for r in colab.missing_requirements(reqs, version_of)] == ["keras<4,>=3.10.0",
                                                                              "tensorflow-datasets>=4.9.9"]
    runtime.update({"keras": "3.15.1", "tensorflow-datasets": "4.9.10"})
    assert colab.missing_requirements(reqs, version_of) == []


def test_pins_lie_in_the_supported_ranges_and_lowest_pins_are_the_lower_bounds():
    exact, lowest = pins("requirements.txt"), pins("requirements-lowest.txt")
    for req in colab.requirements():
        assert req.specifier.contains(exact[req.name]), (req, exact[req.name])
        assert req.specifier.contains(lowest[req.name]), (req, lowest[req.name])
        lower = [spec.version for spec in req.specifier if spec.operator == ">="]
        assert lower == [lowest[req.name]], f"requirements-lowest.txt must pin {req.name} at its lower bound"


def test_no_link_points_at_a_placeholder_until_the_url_is_known():
    texts = {}
    for path in (colab.NOTEBOOK, colab.README):
        with open(path) as handle:
            texts[path] = handle.read()
    urls = colab.published_urls()
    for path, text in texts.items():
        # No link (HTML or Markdown) to a 404; the notebook's REPO_URL variable is code, and says it is a placeholder.
        assert not re.search(r"href=\\?\"[^\"]*REPLACE_WITH|\]\([^)]*REPLACE_WITH", text), path
    if "REPLACE_WITH" in urls["notebook REPO_URL"]:
        assert urls["README badge"] is None and urls["notebook badge"] is None
        for text in texts.values():  # instead, a line that says how to open the notebook in Colab
            assert "File → Open notebook → GitHub" in text and "python colab.py --set-repo-url" in text
    else:
        assert len(set(urls.values())) == 1, urls


@pytest.mark.parametrize("remote", ["git@github.com:someone/mnist-norm.git", "https://github.com/someone/mnist-norm"])
def test_set_repo_url_fills_notebook_and_both_badges(tmp_path, remote):
    notebook, readme = tmp_path / "nb.ipynb", tmp_path / "README.md"
    shutil.copy(colab.NOTEBOOK, notebook)
    shutil.copy(colab.README, readme)
    before = json.loads(notebook.read_text())
    assert colab.set_repo_url(remote, str(notebook), str(readme)) == "https://github.com/someone/mnist-norm"
    urls = colab.published_urls(str(notebook), str(readme))
    assert set(urls.values()) == {"https://github.com/someone/mnist-norm"}
    after = json.loads(notebook.read_text())
    assert [c.get("outputs") for c in after["cells"]] == [c.get("outputs") for c in before["cells"]]
    assert "REPLACE_WITH_OWNER/REPLACE_WITH_REPO" not in notebook.read_text() + readme.read_text()
    assert "File → Open notebook" not in notebook.read_text() + readme.read_text()  # the badge took its place
    assert readme.read_text().count('alt="Open In Colab"') == 1


def test_set_repo_url_rejects_what_is_not_github(tmp_path, capsys):
    with pytest.raises(ValueError, match="'https://gitlab.com/a/b' is not a GitHub repository URL"):
        colab.github_url("https://gitlab.com/a/b")
    assert colab_command.main(["--set-repo-url", "ftp://example.org/x"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
