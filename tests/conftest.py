"""Shared constants and fixtures: the project's folders, tiny learnable MNIST-shaped IDX data written by the tests
themselves, and the real test set that ships with the project (data/mnist).

Tests marked `slow` (long training, subprocesses, the notebook) are left out of the edit loop,
`python -m pytest -m "not slow"`; CI runs them all.
"""

import os
import signal
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mnist_norm import data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")


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
