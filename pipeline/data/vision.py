"""Readers for the image datasets in their public formats: MNIST idx files, CIFAR-10, sklearn digits.

Every reader returns ``(images, labels)`` as numpy arrays: images ``uint8`` in their natural
layout — MNIST ``(N, 28, 28)``, CIFAR-10 ``(N, 32, 32, 3)`` (HWC, RGB) — and labels ``int64``.

* **MNIST** (LeCun et al. 1998): the four standard idx files, gzipped or not.
* **CIFAR-10** (Krizhevsky 2009): either the torchvision ImageFolder layout
  ``{train,test}/{class}/*.jpg`` or the python-pickle batches ``data_batch_1..5`` / ``test_batch``
  (directly under the root or in ``cifar-10-batches-py/``). Decoding 60k JPEGs takes a while,
  so the decoded arrays are cached as a stage (``.npy`` files, opened memory-mapped).
* **digits**: scikit-learn's embedded 8×8 digits (no files needed).

Roots resolve through :func:`pipeline.data.roots.dataset_root`; when none is configured the
files are fetched once from the public origin into ``data/downloads/<name>``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.data.roots import DOWNLOADS, dataset_root, fetch
from pipeline.errors import PipelineError
from pipeline.files import atomic_dir, sha256_json
from pipeline.progress import progress
from pipeline.stages import run_stage

Split = Literal["train", "test"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The original host is often unreachable; the second is the mirror torchvision uses.
MNIST_URLS = ("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise PipelineError(f"unknown split {split!r}; expected 'train' or 'test'")


# ---- MNIST ---------------------------------------------------------------------------------------
def read_idx(path: Path) -> np.ndarray:
    """Parse one idx file (``.gz`` or raw): magic ``0 0 dtype ndim``, big-endian dims, then data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise PipelineError(f"{path} is not an idx file (bad magic number)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise PipelineError(f"{path} is truncated: {len(body)} data bytes, header promises {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (root / name).is_file():
            return root / name
    return None


def _fetch_mnist(stem: str) -> Path:
    dest = DOWNLOADS / "mnist" / f"{stem}.gz"
    last: PipelineError | None = None
    for base in MNIST_URLS:
        try:
            return fetch(base + f"{stem}.gz", dest)
        except PipelineError as err:
            last = err
    assert last is not None
    raise last


def load_mnist(split: Split, root: str | None = None, stages_dir: str = "data/stages") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` from the standard idx files.

    ``stages_dir`` is accepted for symmetry with :func:`load_cifar10`; idx files parse in well
    under a second, so nothing is cached.
    """
    _check_split(split)
    local = dataset_root("mnist", root)
    paths = []
    for stem in MNIST_FILES[split]:
        path = _find_idx(local, stem) if local is not None else _fetch_mnist(stem)
        if path is None:
            raise PipelineError(f"MNIST {split}: {stem}[.gz] not found in {local}")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[0] != labels.shape[0]:
        raise PipelineError(f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
    return np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64)


# ---- CIFAR-10 ------------------------------------------------------------------------------------
def _batches_dir(root: Path) -> Path | None:
    for folder in (root, root / "cifar-10-batches-py"):
        if (folder / "test_batch").is_file():
            return folder
    return None


def _read_pickle_batches(folder: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for name in CIFAR10_BATCHES[split]:
        path = folder / name
        if not path.is_file():
            raise PipelineError(f"CIFAR-10 {split}: {path} missing (expected {', '.join(CIFAR10_BATCHES[split])})")
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")  # noqa: S301 - the dataset's own published format
        # rows are 3072 bytes: 1024 red, 1024 green, 1024 blue, each row-major 32×32
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def _imagefolder_files(root: Path, split: Split) -> list[tuple[Path, int]]:
    folder = root / split
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = sorted(set(classes) - set(CIFAR10_CLASSES))
    if unknown:
        raise PipelineError(f"CIFAR-10 {folder}: unknown class folders {unknown}; expected {list(CIFAR10_CLASSES)}")
    files = []
    for name in classes:  # ImageFolder order: classes sorted, then files sorted
        label = CIFAR10_CLASSES.index(name)
        files += [
            (p, label) for p in sorted((folder / name).iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        ]
    if not files:
        raise PipelineError(f"CIFAR-10 {split}: no images under {folder}/<class>/")
    return files


def _decode_imagefolder(files: list[tuple[Path, int]], out: Path) -> dict:
    from PIL import Image

    images = np.lib.format.open_memmap(out / "images.npy", mode="w+", dtype=np.uint8, shape=(len(files), 32, 32, 3))
    labels = np.empty(len(files), dtype=np.int64)
    for i, (path, label) in enumerate(progress(files, desc="decode CIFAR-10", unit="img")):
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
        if array.shape != (32, 32, 3):
            raise PipelineError(f"{path}: expected a 32×32 image, got {array.shape[1]}×{array.shape[0]}")
        images[i], labels[i] = array, label
    images.flush()
    del images
    np.save(out / "labels.npy", labels)
    return {"images": len(files), "per_class": np.bincount(labels, minlength=10).tolist()}


def _cifar_from_stage(root: Path, split: Split, stages_dir: str) -> tuple[np.ndarray, np.ndarray]:
    files = _imagefolder_files(root, split)
    # Fingerprint the listing (names and sizes), not every byte: hashing 60k files costs as much as decoding.
    listing = sha256_json([[str(p.relative_to(root)), p.stat().st_size, label] for p, label in files])
    stage = run_stage(
        Path(stages_dir),
        f"cifar10-{split}",
        {"split": split, "layout": "imagefolder"},
        {"listing": listing},
        lambda out: _decode_imagefolder(files, out),
    )
    return np.load(stage.path / "images.npy", mmap_mode="r"), np.load(stage.path / "labels.npy")


def _fetch_cifar10() -> Path:
    target = DOWNLOADS / "cifar10"
    if _batches_dir(target) is None:
        archive = fetch(CIFAR10_URL, DOWNLOADS / "cifar-10-python.tar.gz")
        with atomic_dir(target, replace=True) as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
    return target


def load_cifar10(
    split: Split, root: str | None = None, stages_dir: str = "data/stages"
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images ``uint8 (N, 32, 32, 3)`` RGB and labels ``int64 (N,)`` in :data:`CIFAR10_CLASSES` order.

    ImageFolder JPEGs are decoded once into a cached stage and returned memory-mapped
    (read-only); the pickle batches are small enough to read directly.
    """
    _check_split(split)
    local = dataset_root("cifar10", root) or _fetch_cifar10()
    batches = _batches_dir(local)
    if batches is not None:
        return _read_pickle_batches(batches, split)
    if (local / split).is_dir():
        return _cifar_from_stage(local, split, stages_dir)
    raise PipelineError(
        f"CIFAR-10: {local} holds neither {split}/<class>/*.jpg nor the python batches (data_batch_1..5, test_batch)"
    )


# ---- scikit-learn digits -------------------------------------------------------------------------
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's embedded 8×8 digits: images ``uint8 (1797, 8, 8)`` with values 0..16, labels ``int64``."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.int64)
