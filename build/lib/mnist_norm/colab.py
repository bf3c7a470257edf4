"""Running the notebook in Colab: install only what the runtime lacks; publish the repository's URL.

Colab runtimes come with tensorflow, keras, numpy and matplotlib. `pip install -r
requirements.txt` would replace them with this project's exact pins (hundreds of MB, and a
numpy or TensorFlow swapped under a live kernel needs a runtime restart), so the notebook
installs only the requirements of pyproject.toml that are missing or outside its ranges.
"""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from . import ROOT

NOTEBOOK = os.path.join(ROOT, "Normalization_Keras.ipynb")
README = os.path.join(ROOT, "README.md")
_REPO_URL_LINE = re.compile(r'REPO_URL = "([^"]*)"')
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/([^/\s\"]+)/([^/\s\"]+)/blob/main/Normalization_Keras\.ipynb")
# The README's and the notebook's badge live between these markers; until the URL is known they hold
# UNSET_BADGE, a line that says how to open the notebook, rather than a link to a placeholder (a 404).
_BADGE_BLOCK = re.compile(r"<!-- colab-badge -->.*?<!-- /colab-badge -->", re.S)
UNSET_BADGE = ("<!-- colab-badge -->*Open in Colab:* File → Open notebook → GitHub, paste this repository's URL "
               "and pick `Normalization_Keras.ipynb` (a badge replaces this line once "
               "`python colab.py --set-repo-url` has run).<!-- /colab-badge -->")


def badge(owner_repo, target=""):
    """The Colab badge block for github.com/`owner_repo` (target: ' target="_parent"' in the notebook)."""
    return (f'<!-- colab-badge --><a href="https://colab.research.google.com/github/{owner_repo}/blob/main/'
            f'Normalization_Keras.ipynb"{target}><img src="https://colab.research.google.com/assets/colab-badge.svg" '
            f'alt="Open In Colab"/></a><!-- /colab-badge -->')


PYPROJECT = os.path.join(ROOT, "pyproject.toml")


def requirements(pyproject=PYPROJECT):
    """pyproject.toml's runtime requirements, as `packaging` Requirements."""
    with open(pyproject, "rb") as handle:
        return [Requirement(line) for line in tomllib.load(handle)["project"]["dependencies"]]


def missing_requirements(reqs=None, version_of=importlib.metadata.version):
    """The requirements this Python does not satisfy: absent, or installed at a version outside the range."""
    missing = []
    for req in reqs if reqs is not None else requirements():
        try:
            installed = version_of(req.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(req)
            continue
        if not req.specifier.contains(installed, prereleases=True):
            missing.append(req)
    return missing


def install_missing():
    """pip-installs only the missing requirements; returns them (empty when the runtime has everything)."""
    missing = missing_requirements()
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *map(str, missing)], check=True)
    return missing


def github_url(remote):
    """https://github.com/OWNER/REPO from a git remote URL (https or ssh form)."""
    match = re.match(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)([^/]+)/(.+?)(?:\.git)?/?$",
                     remote.strip())
    if not match:
        raise ValueError(f"remote {remote.strip()!r} is not a GitHub repository URL; expected "
                         f"https://github.com/OWNER/REPO or git@github.com:OWNER/REPO.git")
    return f"https://github.com/{match.group(1)}/{match.group(2)}"


def published_urls(notebook=NOTEBOOK, readme=README):
    """{where: repository URL} as the notebook's REPO_URL and the two Colab badges state it."""
    with open(notebook) as handle:
        cells = json.load(handle)["cells"]
    with open(readme) as handle:
        readme_text = handle.read()
    notebook_text = "\n".join("".join(cell["source"]) for cell in cells)
    urls = {"notebook REPO_URL": _REPO_URL_LINE.search(notebook_text).group(1)}
    for where, text in (("notebook badge", notebook_text), ("README badge", readme_text)):
        match = _BADGE.search(text)
        urls[where] = f"https://github.com/{match.group(1)}/{match.group(2)}" if match else None
    return urls


def set_repo_url(url, notebook=NOTEBOOK, readme=README):
    """Writes `url` into the notebook's REPO_URL and both Colab badges (outputs untouched)."""
    url = github_url(url)
    owner_repo = url.removeprefix("https://github.com/")
    with open(notebook) as handle:
        book = json.load(handle)
    for cell in book["cells"]:
        text = "".join(cell["source"])
        new = _BADGE_BLOCK.sub(lambda _: badge(owner_repo, ' target="_parent"'),
                               _REPO_URL_LINE.sub(f'REPO_URL = "{url}"', text))
        if new != text:
            cell["source"] = new.splitlines(keepends=True)
    with open(notebook, "w") as handle:
        json.dump(book, handle, indent=1, ensure_ascii=False, sort_keys=True)  # as nbformat writes it
        handle.write("\n")
    with open(readme) as handle:
        text = handle.read()
    with open(readme, "w") as handle:
        handle.write(_BADGE_BLOCK.sub(lambda _: badge(owner_repo), text))
    return url
