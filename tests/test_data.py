import gzip
import os
import shutil
import socket
import time

import numpy as np
import pytest

from mnist_norm import data
from mnist_norm import pipeline
from conftest import synthetic_digits, write_mnist_dir


@pytest.mark.parametrize("gzipped", [True, False])
def test_idx_round_trip(tmp_path, gzipped):
    directory = write_mnist_dir(tmp_path, train_count=50, test_count=20, gzipped=gzipped)
    (train_x, train_y), (test_x, test_y) = data.load_idx_dir(directory)
    expected_x, expected_y = synthetic_digits(50, 0)
    np.testing.assert_array_equal(train_x, expected_x)
    np.testing.assert_array_equal(train_y, expected_y)
    assert train_x.dtype == np.uint8 and test_x.shape == (20, 28, 28, 1) and test_y.shape == (20,)


def _corrupt(directory, name, payload):
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(payload)
    return path


def _header(magic, *dims):
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


CORRUPTIONS = {
    "wrong magic": ("train-labels-idx1-ubyte.gz", lambda: gzip.compress(_header(0x803, 384, 28, 28)), "wrong magic"),
    "truncated": ("train-images-idx3-ubyte.gz", lambda: gzip.compress(_header(0x803, 384, 28, 28) + b"\0" * 100), "expected"),
    "truncated header": ("t10k-labels-idx1-ubyte.gz", lambda: gzip.compress(b"\0\0\x08"), "truncated header"),
    "empty": ("t10k-images-idx3-ubyte.gz", lambda: gzip.compress(b""), "empty file"),
    "not gzip": ("train-images-idx3-ubyte.gz", lambda: b"plain bytes, not gzip", "not a valid gzip"),
    "count mismatch": ("train-labels-idx1-ubyte.gz", lambda: gzip.compress(_header(0x801, 10) + bytes(10)), "10 labels"),
    "label out of range": ("train-labels-idx1-ubyte.gz", lambda: gzip.compress(_header(0x801, 384) + bytes([12] * 384)), "label 12 outside 0-9"),
    "not 28x28": ("t10k-images-idx3-ubyte.gz", lambda: gzip.compress(_header(0x803, 128, 27, 27) + bytes(128 * 27 * 27)), "27x27"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_files_are_rejected_naming_the_file(tmp_path, case):
    directory = write_mnist_dir(tmp_path)
    name, payload, message = CORRUPTIONS[case]
    _corrupt(directory, name, payload())
    with pytest.raises(data.DataError, match=message) as info:
        data.load_idx_dir(directory)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path):
    directory = write_mnist_dir(tmp_path)
    os.remove(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.*file not found"):
        data.load_idx_dir(directory)
    with pytest.raises(data.DataError, match="nowhere.*data folder not found"):
        data.load_idx_dir(str(tmp_path / "nowhere"))


def test_validation_split_takes_the_last_examples():
    images, labels = synthetic_digits(30, 3)
    (train_x, train_y), (val_x, val_y) = data.split_validation((images, labels), 10)
    np.testing.assert_array_equal(val_x, images[20:])
    np.testing.assert_array_equal(train_y, labels[:20])
    with pytest.raises(ValueError, match="validation_size=30"):
        data.split_validation((images, labels), 30)


def _batches(images, labels, seed, epoch, augment=True):
    batches = pipeline.TrainingBatches(images, labels, 16, seed=seed, augment=augment)
    batches.start_epoch(epoch)
    return [(x.numpy(), y.numpy()) for x, y in batches.dataset]


def test_pipeline_augments_training_batches_only():
    images, labels = synthetic_digits(64, 5)
    evaluation = next(iter(pipeline.make_dataset(images, labels, 64)))
    np.testing.assert_array_equal(evaluation[0].numpy(), images.astype("float32"))
    np.testing.assert_array_equal(evaluation[1].numpy(), labels)
    training = _batches(images, labels, seed=1, epoch=0)
    batch_x = np.concatenate([x for x, _ in training])
    batch_y = np.concatenate([y for _, y in training])
    assert batch_x.shape == (64, 28, 28, 1) and batch_x.dtype == np.float32
    assert sorted(batch_y.tolist()) == sorted(labels.tolist())  # shuffled, nothing lost
    assert batch_y.tolist() != labels.tolist()
    unchanged = [(images == x.round().astype(np.uint8)).all(axis=(1, 2, 3)).any() for x in batch_x]
    assert sum(unchanged) < 32  # most images were moved by the augmentation
    assert 0 <= batch_x.min() and batch_x.max() <= 255


def test_training_batches_are_a_function_of_seed_and_epoch():
    images, labels = synthetic_digits(64, 5)
    first = _batches(images, labels, seed=1, epoch=3)
    # A new pipeline (as in a resumed process) sent straight to epoch 3 gives the same batches ...
    for (x1, y1), (x2, y2) in zip(first, _batches(images, labels, seed=1, epoch=3)):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(x1, x2)
    # ... also after other passes, while other epochs and seeds shuffle and augment differently.
    batches = pipeline.TrainingBatches(images, labels, 16, seed=1)
    for epoch in (0, 1, 3):
        batches.start_epoch(epoch)
        again = [(x.numpy(), y.numpy()) for x, y in batches.dataset]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in again]), np.concatenate([x for x, _ in first]))
    for other in (_batches(images, labels, seed=1, epoch=4), _batches(images, labels, seed=2, epoch=3)):
        assert not np.array_equal(np.concatenate([y for _, y in other]), np.concatenate([y for _, y in first]))
    same_order = _batches(images, labels, seed=1, epoch=3, augment=False)
    np.testing.assert_array_equal(np.concatenate([y for _, y in same_order]), np.concatenate([y for _, y in first]))


def test_zoom_and_shear_join_the_augmentation_only_when_asked():
    layer_types = lambda augmenter: [type(layer).__name__ for layer in augmenter.layers]  # noqa: E731
    assert layer_types(pipeline.augmenter(1)) == ["RandomRotation", "RandomTranslation"]
    assert layer_types(pipeline.augmenter(1, zoom=0.1, shear=0.1)) == [
        "RandomRotation", "RandomTranslation", "RandomZoom", "RandomShear"]
    images, labels = synthetic_digits(32, 5)
    strong = {"rotation_degrees": 8.0, "shift_pixels": 3.0, "zoom": 0.15, "shear": 0.1}
    first = np.concatenate([x for x, _ in _batches(images, labels, seed=1, epoch=2, augment=strong)])
    again = np.concatenate([x for x, _ in _batches(images, labels, seed=1, epoch=2, augment=strong)])
    default = np.concatenate([x for x, _ in _batches(images, labels, seed=1, epoch=2)])
    np.testing.assert_array_equal(first, again)  # every layer's draw restarts with (seed, epoch)
    assert not np.array_equal(first, default)


def _no_network(monkeypatch):
    """Every new connection fails at once, as on a machine without a network."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_tfds_source_with_mock_data(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    attempts = _no_network(monkeypatch)  # an MNIST tfds already has needs no network
    with tfds.testing.mock_data(num_examples=12):
        (train_x, train_y), (test_x, test_y) = data.load_mnist("tfds")
    assert train_x.shape == (12, 28, 28, 1) and train_x.dtype == np.uint8
    assert test_y.shape == (12,) and test_y.max() <= 9
    assert attempts == []


def test_tfds_offline_fails_fast_with_one_line(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    attempts = _no_network(monkeypatch)
    started = time.monotonic()
    with pytest.raises(data.DataError) as info:
        data.load_tfds(cache_dir=str(tmp_path))  # an empty tfds cache: MNIST would need a download
    message = str(info.value)
    assert time.monotonic() - started < 60
    assert len(attempts) == 1 and "\n" not in message
    assert "cannot be reached" in message and "bundled" in message and "--data-dir" in message


def test_bundled_mnist_is_the_default_source():
    (train_x, train_y), (test_x, test_y) = data.load_mnist()
    assert train_x.shape == (60000, 28, 28, 1) and test_x.shape == (10000, 28, 28, 1)
    assert train_x.dtype == np.uint8 and set(np.unique(train_y)) == set(range(10))
    # Class counts of the real MNIST test set, which no synthetic stand-in would match.
    assert np.bincount(test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.source_name() == "bundled:data/mnist"


GIT_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 9912422\n"


@pytest.mark.parametrize("damage", ["truncated", "git-lfs pointer", "one byte changed", "missing"])
def test_checksum_guard_refuses_a_damaged_bundled_file(tmp_path, damage):
    for name in data.BUNDLED_SHA256:
        shutil.copy(os.path.join(data.BUNDLED_DIR, name), tmp_path / name)
    data.verify_bundled(str(tmp_path))  # the intact copy passes
    victim = tmp_path / "t10k-labels-idx1-ubyte.gz"
    original = victim.read_bytes()
    if damage == "truncated":
        victim.write_bytes(original[: len(original) // 2])
    elif damage == "git-lfs pointer":
        victim.write_bytes(GIT_LFS_POINTER)
    elif damage == "one byte changed":
        victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    else:
        victim.unlink()
    with pytest.raises(data.DataError) as info:
        data.verify_bundled(str(tmp_path))
    message = str(info.value)
    assert str(victim) in message and "\n" not in message and "git checkout -- data/mnist" in message


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="'mnist-c'.*bundled, tfds"):
        data.load_mnist("mnist-c")


def test_pipelines_run_without_the_tf_data_autotuner():
    # With the autotuner on, Keras' per-epoch iterator deletion sometimes waited ~2.5 s (pipeline._fixed_buffers).
    images, labels = synthetic_digits(32, 5)
    for dataset in (pipeline.make_dataset(images, labels, 8), pipeline.TrainingBatches(images, labels, 8).dataset):
        assert dataset.options().autotune.enabled is False
