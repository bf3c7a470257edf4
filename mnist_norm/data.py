"""MNIST loading: the bundled IDX files, tensorflow-datasets, or any folder of IDX files (tf.data: pipeline.py).

    python -c "from mnist_norm import data; print([a.shape for a in data.load_mnist()[0]])"

Every source gives the same thing: uint8 arrays, images (N, 28, 28, 1) and labels (N,).
Images stay raw 0-255 pixels all the way into the model, which standardizes them itself.

The default source is the four original MNIST files shipped in `data/mnist/`, checked
against recorded SHA-256 digests, so a fresh clone trains offline.
"""

import gzip
import hashlib
import os
import socket
import urllib.parse
import zlib

import numpy as np

from . import ROOT
from . import quiet_tf

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# The project's copy of MNIST (LeCun et al.'s original files) and their SHA-256 digests:
# a truncated clone or a git-LFS pointer in their place is refused, not half-read.
BUNDLED_DIR = os.path.join(ROOT, "data", "mnist")
BUNDLED_SHA256 = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}
SOURCES = ("bundled", "tfds")
# Seconds to wait for tfds' download host before calling the machine offline.
TFDS_CONNECT_TIMEOUT = 10
_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


class DataError(ValueError):
    """A data file is missing or not what MNIST should be; the message names the file."""


def _read_bytes(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        with open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        if path.endswith(".gz"):
            raise DataError(f"{path}: not a valid gzip file ({error})") from error
        raise DataError(f"{path}: cannot be read ({error})") from error


def read_idx(path, kind):
    """Reads one IDX file of MNIST images or labels.

    Args:
        path: file path; gzipped when it ends in `.gz`.
        kind: "images" (expects N x 28 x 28) or "labels" (expects N values in 0-9).

    Returns:
        uint8 array: (N, 28, 28, 1) for images, (N,) for labels.

    Raises:
        DataError: naming `path` and what is wrong with it.
    """
    raw = _read_bytes(path)
    if not raw:
        raise DataError(f"{path}: empty file")
    magic, ndim = (_IMAGES_MAGIC, 3) if kind == "images" else (_LABELS_MAGIC, 1)
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, expected {header_size})")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        raise DataError(f"{path}: wrong magic number 0x{found_magic:08x}, expected 0x{magic:08x} for {kind}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header_size + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path}: {len(raw)} bytes, expected {expected} for shape {tuple(dims)} (truncated or padded)")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)
    if kind == "images":
        if tuple(dims[1:]) != (28, 28):
            raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
        return array[..., np.newaxis]
    if array.size and array.max() > 9:
        raise DataError(f"{path}: label {int(array.max())} outside 0-9")
    return array


def write_idx(path, array):
    """Writes `array` (uint8 images (N, 28, 28[, 1]) or labels (N,)) as an IDX file; gzipped if `.gz`."""
    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 4:
        array = array[..., 0]
    magic = _IMAGES_MAGIC if array.ndim == 3 else _LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())


def _find(data_dir, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    raise DataError(f"{os.path.join(data_dir, name)}[.gz]: file not found")


def load_idx_dir(data_dir):
    """Loads MNIST from a folder holding the four standard IDX files (gzipped or not)."""
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: data folder not found")
    splits = []
    for split in ("train", "test"):
        images_path = _find(data_dir, IDX_FILES[f"{split}_images"])
        labels_path = _find(data_dir, IDX_FILES[f"{split}_labels"])
        images = read_idx(images_path, "images")
        labels = read_idx(labels_path, "labels")
        if len(images) != len(labels):
            raise DataError(
                f"{labels_path}: {len(labels)} labels but {images_path} has {len(images)} images"
            )
        splits.append((images, labels))
    return tuple(splits)


def split_validation(train, validation_size):
    """Splits the last `validation_size` training examples off as a validation set.

    Used to choose the recipe without ever looking at the test set.
    """
    images, labels = train
    if not 0 < validation_size < len(images):
        raise ValueError(
            f"validation_size={validation_size} must be between 1 and {len(images) - 1}."
        )
    cut = len(images) - validation_size
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def verify_bundled(directory=BUNDLED_DIR, digests=BUNDLED_SHA256):
    """Checks every bundled file against its recorded SHA-256; raises DataError naming the first bad one."""
    for name, expected in digests.items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise DataError(f"{path}: bundled MNIST file missing; restore it with `git checkout -- data/mnist`")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise DataError(
                f"{path}: SHA-256 {digest.hexdigest()[:12]}... is not the bundled MNIST's {expected[:12]}... "
                f"({os.path.getsize(path)} bytes: truncated, edited or a git-LFS pointer?); "
                f"restore it with `git checkout -- data/mnist` or pass --data-dir"
            )


def load_bundled():
    """Loads the MNIST copy shipped in data/mnist/ after checking its checksums."""
    verify_bundled()
    return load_idx_dir(BUNDLED_DIR)


def _tfds_host():
    try:
        from tensorflow_datasets.image_classification import mnist

        url = mnist._MNIST_URL  # private, so fall back to the host it has always been
    except (ImportError, AttributeError):
        url = "https://storage.googleapis.com/cvdf-datasets/mnist/"
    parsed = urllib.parse.urlparse(url)
    return parsed.hostname, parsed.port or 443


def load_tfds(cache_dir=None):
    """Loads MNIST through tensorflow-datasets: from its cache, else downloaded and prepared once.

    Args:
        cache_dir: tfds' data folder; None uses tfds' own default (~/tensorflow_datasets).

    Offline, tfds would retry its download for minutes; instead, when MNIST is not in
    the cache yet, one short connection attempt to the download host decides, and a
    failure is one DataError line that names the sources that work offline.
    """
    quiet_tf.start()  # tfds loads TensorFlow: without its C++ start-up lines
    import tensorflow_datasets as tfds
    from absl import logging as absl_logging

    # tfds warns about an empty cache folder before we get to say what is wrong.
    absl_logging.set_verbosity(absl_logging.ERROR)

    def load(download):
        splits = []
        for split in ("train", "test"):
            dataset = tfds.load("mnist", split=split, as_supervised=True, download=download, data_dir=cache_dir)
            # One batch holding the whole split (MNIST fits in memory many times over).
            images, labels = tfds.as_numpy(dataset.batch(100_000).get_single_element())
            splits.append((images.astype(np.uint8), labels.astype(np.uint8)))
        return tuple(splits)

    offline_hint = "the bundled data (the default, no --data flag) or --data-dir DIR work offline"
    try:
        return load(download=False)
    except AssertionError:  # tfds' way of saying "not prepared in the cache"
        pass
    host, port = _tfds_host()
    try:
        socket.create_connection((host, port), timeout=TFDS_CONNECT_TIMEOUT).close()
    except OSError as error:
        raise DataError(
            f"tfds: MNIST is not in the tensorflow-datasets cache and its download host {host} cannot be "
            f"reached ({error.strerror or error}); {offline_hint}"
        ) from None
    try:
        return load(download=True)
    except Exception as error:  # tfds raises many kinds; the user needs one line either way
        message = " ".join(str(error).split())[:300]
        raise DataError(f"tfds: downloading MNIST failed ({type(error).__name__}: {message}); {offline_hint}") from None


def load_mnist(source="bundled", data_dir=None):
    """Returns ((train_images, train_labels), (test_images, test_labels)) as uint8 arrays.

    Args:
        source: "bundled" (data/mnist/, checksum-guarded) or "tfds" (tensorflow-datasets).
        data_dir: a folder of the four IDX files; when given it is the source.

    Raises:
        DataError: a missing or corrupt file, or tfds unable to provide MNIST.
        ValueError: an unknown `source`.
    """
    if data_dir:
        return load_idx_dir(data_dir)
    if source == "bundled":
        return load_bundled()
    if source == "tfds":
        return load_tfds()
    raise ValueError(f"Unknown data source {source!r}; expected one of {', '.join(SOURCES)}.")


def source_name(source="bundled", data_dir=None):
    """How summaries and run configs name where the data came from."""
    if data_dir:
        return data_dir
    return {"bundled": "bundled:data/mnist", "tfds": "tfds:mnist"}[source]
