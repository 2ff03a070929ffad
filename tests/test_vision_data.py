"""The image readers: idx and pickle formats on synthetic files, ImageFolder caching, and the shared copies."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.data import vision
from pipeline.errors import PipelineError

SHARED = Path(os.environ.get("PIPELINE_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def _write_idx(path: Path, array: np.ndarray, code: int, compress: bool) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_roundtrip(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, 0x08, compress)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, 0x08, compress)
    x, y = vision.load_mnist("test", root=str(tmp_path))
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_idx_rejects_truncated(tmp_path):
    array = np.zeros((3, 4), dtype=np.uint8)
    _write_idx(tmp_path / "bad", array, 0x08, compress=False)
    (tmp_path / "bad").write_bytes((tmp_path / "bad").read_bytes()[:-2])
    with pytest.raises(PipelineError, match="truncated"):
        vision.read_idx(tmp_path / "bad")


def _synthetic_cifar(n_per_class: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(10), n_per_class)
    return rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8), labels


def test_cifar_pickle_and_imagefolder_layouts_agree(tmp_path):
    images, labels = _synthetic_cifar()
    # python-pickle layout: rows of 3072 bytes, channel-major
    batches = tmp_path / "pickled" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    with open(batches / "test_batch", "wb") as handle:
        pickle.dump({b"data": rows, b"labels": labels.tolist()}, handle)
    # ImageFolder layout with lossless PNGs, so the decoded pixels must match exactly
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "folder" / "test" / vision.CIFAR10_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    x_pickle, y_pickle = vision.load_cifar10("test", root=str(tmp_path / "pickled"))
    stages = str(tmp_path / "stages")
    x_folder, y_folder = vision.load_cifar10("test", root=str(tmp_path / "folder"), stages_dir=stages)
    np.testing.assert_array_equal(x_pickle, images)
    np.testing.assert_array_equal(y_pickle, labels)
    np.testing.assert_array_equal(x_folder, images)
    np.testing.assert_array_equal(y_folder, labels)
    built = list(Path(stages).glob("cifar10-test-*"))
    assert len(built) == 1 and (built[0] / "images.npy").is_file()


def test_cifar_stage_is_cached(tmp_path, capsys):
    images, labels = _synthetic_cifar(1)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / "test" / vision.CIFAR10_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    stages = str(tmp_path / "stages")
    vision.load_cifar10("test", root=str(tmp_path), stages_dir=stages)
    capsys.readouterr()
    x, _ = vision.load_cifar10("test", root=str(tmp_path), stages_dir=stages)
    assert "up to date" in capsys.readouterr().err
    assert isinstance(x, np.memmap)


def test_cifar_unknown_class_folder(tmp_path):
    (tmp_path / "test" / "zebra").mkdir(parents=True)
    with pytest.raises(PipelineError, match="zebra"):
        vision.load_cifar10("test", root=str(tmp_path), stages_dir=str(tmp_path / "stages"))


def test_bad_split():
    with pytest.raises(PipelineError, match="split"):
        vision.load_mnist("valid")  # type: ignore[arg-type]


def test_digits():
    x, y = vision.load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 16
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared datasets not present")
def test_shared_mnist():
    x, y = vision.load_mnist("train", root=str(SHARED / "mnist"))
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert abs(x.mean() / 255 - 0.1307) < 1e-3  # the official training-set mean
    np.testing.assert_array_equal(y[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])  # the original order
    x, y = vision.load_mnist("test", root=str(SHARED / "mnist"))
    assert x.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


@pytest.mark.skipif(not (SHARED / "cifar10").is_dir(), reason="shared datasets not present")
def test_shared_cifar10_test_split(tmp_path):
    x, y = vision.load_cifar10("test", root=str(SHARED / "cifar10"), stages_dir=str(tmp_path))
    assert x.shape == (10000, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    # per-channel means of the CIFAR-10 test set are about (126, 124, 115)
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), [126.0, 123.7, 114.9], atol=2.0)
