"""Image search over binary codes: an uploaded image's nearest neighbours by Hamming distance in an index.

The index is what ``pipeline build-index`` writes (packed codes, labels, and where each image came from);
the code autoencoder named in it encodes the query exactly as it encoded the database (the same input
normalisation, the same threshold at 0). Ranking is an exhaustive XOR-popcount over the packed codes
(256 bits are 32 bytes: 60,000 codes take a few milliseconds), the content-based retrieval that
Krizhevsky & Hinton (2011, "Using very deep autoencoders for content-based image retrieval") proposed
for 256-bit codes of 32×32 images. Ties in distance are broken by a fixed, seeded shuffle of the
database, not by its order: CIFAR-10's image-folder copy is stored class by class, so index order would
favour airplanes.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.errors import PipelineError

TIE_SEED = 0


def load_index(path: str | Path) -> dict:
    """``build-index``'s ``.npz`` as a dict of arrays plus its ``meta`` (checkpoint, dataset, bits, splits)."""
    if not Path(path).is_file():
        raise PipelineError(f"index not found: {path} (make one with `pipeline build-index`)")
    with np.load(path) as data:
        index = {k: data[k] for k in data.files}
    index["meta"] = json.loads(str(index["meta"]))
    return index


@dataclass(frozen=True)
class Hit:
    rank: int
    distance: int
    label: str
    split: str
    position: int  # the image's position in its split, as the dataset loader orders it


class ImageSearch:
    """A code autoencoder and its index, ready to answer queries."""

    def __init__(self, index: dict, autoencoder):
        from pipeline.data.image_tensors import class_names, image_shape

        if autoencoder.code != "binary":
            raise PipelineError(f"the index's model has model.code={autoencoder.code}; image search needs binary codes")
        self.meta, self.autoencoder = index["meta"], autoencoder
        self.dataset = self.meta["dataset"]
        self.shape, self.names = image_shape(self.dataset), class_names(self.dataset)
        order = np.random.default_rng(TIE_SEED).permutation(len(index["codes"]))  # ties: a fixed shuffle
        self.codes = np.ascontiguousarray(index["codes"][order])
        self.labels, self.splits, self.positions = (
            index["labels"][order],
            index["split"][order],
            index["position"][order],
        )
        self._pools: dict[str, np.ndarray] = {}

    @classmethod
    def from_index(cls, path: str | Path, checkpoint: str | Path | None = None) -> ImageSearch:
        """``checkpoint`` overrides the autoencoder the index names (e.g. the index was moved with its run)."""
        from pipeline.unsupervised.trained import Autoencoder

        index = load_index(path)
        return cls(index, Autoencoder.from_checkpoint(checkpoint or index["meta"]["checkpoint"]))

    @property
    def size(self) -> int:
        return len(self.codes)

    @property
    def bits(self) -> int:
        return int(self.meta["bits"])

    def packed_codes(self, images: np.ndarray) -> np.ndarray:
        """Float (Q, C, H, W) in [0, 1] → packed codes (Q, bits / 8)."""
        from pipeline.unsupervised.binary_codes import pack_bits, to_bits

        with torch.no_grad():
            return pack_bits(to_bits(self.autoencoder.model.encode_pre(torch.from_numpy(images))).numpy())

    def search(self, image: np.ndarray, k: int) -> list[Hit]:
        """One (C, H, W) query → its ``k`` nearest database images, nearest first."""
        from pipeline.unsupervised.binary_codes import hamming_distances
        from pipeline.unsupervised.retrieval import top_k_by_distance

        distances = hamming_distances(self.packed_codes(image[None]), self.codes)
        ranked = top_k_by_distance(distances, k)[0]
        return [
            Hit(
                r + 1,
                int(distances[0, i]),
                self.names[int(self.labels[i])],
                str(self.splits[i]),
                int(self.positions[i]),
            )
            for r, i in enumerate(ranked)
        ]

    def image(self, split: str, position: int) -> np.ndarray:
        """A database image as uint8 (H, W) or (H, W, 3), read from the dataset (memory-mapped, loaded once)."""
        if split not in self.meta["splits"]:
            raise KeyError(f"the index holds no split {split!r} (it holds {', '.join(self.meta['splits'])})")
        if split not in self._pools:
            from pipeline.data.vision import load_cifar10, load_mnist

            cfg = self.autoencoder.config
            reader = load_mnist if self.dataset == "mnist" else load_cifar10
            self._pools[split] = reader(split, root=cfg.data.root, stages_dir=cfg.run.stages)[0]
        pool = self._pools[split]
        if not 0 <= position < len(pool):
            raise KeyError(f"split {split!r} has no image {position} (it has {len(pool)})")
        return np.asarray(pool[position])

    def thumbnail_png(self, split: str, position: int, scale: int = 2) -> bytes:
        """A database image as PNG bytes, enlarged ``scale`` times (nearest neighbour: 32 px is small)."""
        from PIL import Image

        picture = Image.fromarray(self.image(split, position))
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return buffer.getvalue()
