"""Shared constants and fixtures: the project's folders, tiny learnable MNIST-shaped IDX data written by the tests
themselves, and the real test set that ships with the project (data/mnist).

Tests marked `slow` (long training, subprocesses, the notebook) are left out of the edit loop,
`python -m pytest -m "not slow"`; CI runs them all.
"""

import os
import shutil
import signal
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mnist_norm import data  # noqa: E402
from mnist_norm import rundir  # noqa: E402
from mnist_norm import variants  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")


def committed(norms=None):
    """The variants whose seed-1 model comes with the clone (results/<norm>/seed-1/), of `norms` (default: all):
    what the tests of committed results loop over, so that a variant added to variants.py breaks none of them before
    its runs exist. committed(variants.READERS): the models that answer photos and drawings."""
    return tuple(norm for norm in (variants.ALL_NORMS if norms is None else norms)
                 if rundir.find_run(RESULTS, norm, 1, "model"))


def synthetic_digits(count, seed):
    """uint8 images (count, 28, 28, 1) where class k is a bright 6x6 square at spot k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 40, size=(count, 28, 28, 1)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        top, left = 4 + 12 * row, 1 + 5 * col
        images[i, top : top + 6, left : left + 6, 0] = 255
    return images, labels


def write_mnist_dir(directory, train_count=384, test_count=128, gzipped=True):
    suffix = ".gz" if gzipped else ""
    for split, count, seed in (("train", train_count, 0), ("t10k", test_count, 1)):
        images, labels = synthetic_digits(count, seed)
        data.write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte{suffix}"), images)
        data.write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte{suffix}"), labels)
    return str(directory)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    return write_mnist_dir(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def test_set():
    """The real MNIST test set from data/mnist: (uint8 images (10000, 28, 28, 1), labels)."""
    _, (images, labels) = data.load_idx_dir(os.path.join(ROOT, "data", "mnist"))
    return images, labels


def fonts(packages):
    """The font files of Debian's `packages` ({package: pattern}, as mnist_norm.judge's FONTS); a test skips without
    them, but fails under REQUIRE_FONTS=1 (.ci/run installs them)."""
    from mnist_norm import judge

    try:
        return judge.font_paths(packages)
    except judge.FontsMissing as error:
        if os.environ.get("REQUIRE_FONTS") == "1":
            raise
        pytest.skip(str(error))


def copy_project(target):
    """A copy of the project as a fresh clone would hold it (the files git tracks, and new files it does not
    ignore, as they are on disk now), committed in a repository of its own: `git status` there shows what a
    command changed. Returns its folder."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):  # a tracked file deleted in the working tree is not in a clone either
            os.makedirs(os.path.join(target, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    git = ["git", "-c", "user.name=tests", "-c", "user.email=tests@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the project as it is"]):
        subprocess.run(git + command, cwd=target, check=True, capture_output=True)
    return str(target)


def changed_files(folder):
    """What `git status` shows changed or added in a folder copy_project made (ignored files, like outputs/, not)."""
    status = subprocess.run(["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, check=True)
    return status.stdout.splitlines()


@pytest.fixture(scope="session")
def project_copy(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("clone"))


def kill_when(command, ready, settle=0.0, timeout=240):
    """Starts `command` in the project folder, waits until `ready()` is true (or `timeout` seconds), then `settle`
    seconds more, and kills it with SIGKILL, as a crash or a closed laptop would."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        time.sleep(0.05)
    time.sleep(settle)
    process.send_signal(signal.SIGKILL)
    process.wait()
