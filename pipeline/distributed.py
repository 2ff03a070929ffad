"""Batch evaluation on Ray Data: ``pipeline evaluate --engine ray [--address ray://... | auto]``.

The split becomes a dataset whose rows are *the local engine's own batches* (same sentences, same
order), so each actor call decodes exactly the tensor the local engine decodes: the hypotheses, and so
the scores, are equal to the local ones bit for bit rather than "close". ``map_batches`` runs a
callable class in an actor pool — the model is deserialised once per actor, not once per batch.

The pool leaves one CPU of the cluster free (Ray Data's scheduler and the driver need it; with every
CPU held by actors a 2-core machine can deadlock), and each actor pins torch to one thread.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pipeline.data.images import to_float

ACTOR_THREADS = 1  # torch intra-op threads per actor: actors, not threads, are the unit of parallelism


def connect(address: str | None) -> None:
    """Join ``address`` (``auto``, ``ray://host:port`` or ``host:port``), or start a private local cluster."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")


def actor_pool(n_batches: int) -> tuple[int, float]:
    """(actors, CPUs per actor): one actor per free CPU of the cluster minus one kept free, at most one per
    batch; with under two CPUs free, a single actor asks for half of what is free, so it can always start."""
    import ray

    free = ray.available_resources().get("CPU", 0.0)
    if free >= 2:
        return max(1, min(n_batches, int(free) - 1)), 1.0
    return 1, max(0.05, round(free / 2, 2))


class _Decoder:
    """Ray Data callable class: holds one model per actor, decodes one local-engine batch per call."""

    def __init__(self, model, decode: Callable, items: Sequence):
        torch.set_num_threads(ACTOR_THREADS)
        self.model, self.decode, self.items = model, decode, items

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # A row is a batch index; the batches themselves travel once per actor, with the model.
        texts = [json.dumps(self.decode(self.model, self.items[int(i)])) for i in rows["index"]]
        return {"index": rows["index"], "texts": np.asarray(texts)}


def _run(model, items: Sequence, decode: Callable, address: str | None) -> list[list[str]]:
    """Each of ``items`` is one batch; returns the decoded texts of every batch, in item order."""
    import ray.data

    connect(address)
    rows = [{"index": i} for i in range(len(items))]
    size, cpus = actor_pool(len(rows))
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
    ds = ds.map_batches(
        _Decoder,
        batch_size=1,
        batch_format="numpy",
        num_cpus=cpus,
        compute=ray.data.ActorPoolStrategy(size=size),
        fn_constructor_kwargs={"model": model, "decode": decode, "items": list(items)},
    )
    out: list[list[str]] = [[] for _ in rows]
    for row in ds.iter_rows():
        out[int(row["index"])] = json.loads(row["texts"])
    return out


def _translate_group(translator, group: dict) -> list[str]:
    return [t.text for t in translator.translate(list(group["texts"]), beam_size=int(group["beam"]))]


def translate_on_ray(translator, sources: Sequence[str], beam_size: int, address: str | None = None) -> list[str]:
    """Same output as ``[t.text for t in translator.translate(sources, beam_size)]``, decoded by Ray actors.

    ``Translator.translate_ids`` drops empty sources, sorts the rest by subword length (stable) and cuts
    ``search.batch_size`` rows per batch; the groups below are those batches (empties form their own).
    """
    src = translator.encode_texts(sources)
    nonempty = [i for i, s in enumerate(src) if len(s)]
    order = np.argsort([len(src[i]) for i in nonempty], kind="stable")
    size = translator.search.batch_size
    groups = [[nonempty[j] for j in order[k : k + size]] for k in range(0, len(order), size)]
    empty = [i for i, s in enumerate(src) if not len(s)]
    if empty:
        groups.append(empty)
    items = [{"texts": [sources[i] for i in group], "beam": beam_size} for group in groups]
    hyps: list[str] = [""] * len(sources)
    for group, texts in zip(groups, _run(translator, items, _translate_group, address), strict=True):
        for i, text in zip(group, texts, strict=True):
            hyps[i] = text
    return hyps


def _caption_group(captioner, group: dict) -> list[str]:
    images = to_float(torch.from_numpy(np.ascontiguousarray(group["pixels"])))
    result = captioner.caption_tensors(images, int(group["beam"]))
    return [captioner.text(h[0].tokens) for h in result.hypotheses]


def caption_on_ray(captioner, pixels: np.ndarray, beam_size: int, address: str | None = None) -> list[str]:
    """Captions of uint8 images (N, H, W, 3), equal to the local engine's ``decode_split``.

    Batches are the local engine's: consecutive runs of ``search.batch_size`` images in split order.
    """
    size = captioner.search.batch_size
    items = [{"pixels": np.asarray(pixels[k : k + size]), "beam": beam_size} for k in range(0, len(pixels), size)]
    return [text for texts in _run(captioner, items, _caption_group, address) for text in texts]
