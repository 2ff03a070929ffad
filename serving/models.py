"""Model deployments: load a checkpoint once per replica, batch requests, know nothing about HTTP.

Each wraps the package's inference API (``pipeline.inference``) — no model code lives here. Callers
send one item (a sentence, an image) per call; ``@serve.batch`` gathers concurrent calls into one
list so the model decodes them as one padded batch. ``max_batch_size`` and ``batch_wait_timeout_s``
come from the deployment's ``user_config`` through ``reconfigure`` and can change without a restart.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ray import serve


@dataclass(frozen=True)
class SentenceJob:
    pair: str
    text: str
    beam_size: int | None = None
    return_attention: bool = False


@dataclass(frozen=True)
class ImageJob:
    data: bytes
    beam_size: int | None = None
    return_attention: bool = False


class BatchStats:
    """How many items each executed batch held: the proof that batching happens."""

    def __init__(self):
        self.sizes: Counter[int] = Counter()

    def add(self, size: int) -> None:
        self.sizes[size] += 1

    def summary(self) -> dict:
        items = sum(k * v for k, v in self.sizes.items())
        return {"batches": sum(self.sizes.values()), "items": items, "max_batch": max(self.sizes, default=0),
                "histogram": {str(k): v for k, v in sorted(self.sizes.items())}}


def _batch_settings(user_config: dict) -> tuple[int, float]:
    size, wait = int(user_config.get("max_batch_size", 16)), float(user_config.get("batch_wait_timeout_s", 0.01))
    if size < 1 or wait < 0:
        raise ValueError(f"user_config needs max_batch_size >= 1 and batch_wait_timeout_s >= 0, got {user_config}")
    return size, wait


def checkpoint_id(path: str, meta: dict) -> str:
    """A short, stable id: file name, training step and modification time of the checkpoint."""
    stat = Path(path).stat()
    return f"{Path(path).parent.parent.name}/{Path(path).name}@step{meta.get('step', '?')}-{int(stat.st_mtime)}"


def _group_by(jobs: list, key) -> dict:
    groups: dict = {}
    for i, job in enumerate(jobs):
        groups.setdefault(key(job), []).append(i)
    return groups


@serve.deployment(name="translator", num_replicas=2, max_ongoing_requests=128, max_queued_requests=256,
                  ray_actor_options={"num_cpus": 0.4}, health_check_period_s=2, health_check_timeout_s=30)
class TranslatorModel:
    """Every configured language pair in one replica: on 2 CPUs, fewer processes beat one per pair."""

    def __init__(self, checkpoints: dict[str, str], device: str = "auto", threads: int = 1):
        from pipeline.inference.translator import Translator

        self.translators, self.checkpoints = {}, checkpoints
        for pair, checkpoint in checkpoints.items():
            translator = Translator.from_checkpoint(checkpoint, device=device, threads=threads)
            if translator.pair != pair:
                raise ValueError(f"{checkpoint} translates {translator.pair}, but the serve config calls it {pair}")
            self.translators[pair] = translator
        self.stats = BatchStats()

    def reconfigure(self, user_config: dict) -> None:
        size, wait = _batch_settings(user_config)
        self.translate.set_max_batch_size(size)
        self.translate.set_batch_wait_timeout_s(wait)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def translate(self, jobs: list[SentenceJob]) -> list[dict]:
        self.stats.add(len(jobs))
        return await asyncio.to_thread(self._translate, jobs)

    def _translate(self, jobs: list[SentenceJob]) -> list[dict]:
        out: list[dict] = [{}] * len(jobs)
        # One decode per (pair, beam, attention) setting; sentences with equal settings share it.
        key = lambda j: (j.pair, j.beam_size, j.return_attention)  # noqa: E731
        for (pair, beam, attention), rows in _group_by(jobs, key).items():
            results = self.translators[pair].translate([jobs[i].text for i in rows], beam_size=beam,
                                                       return_attention=attention)
            for i, result in zip(rows, results, strict=True):
                fields = {k: v for k, v in asdict(result).items() if attention or k != "attention"}
                out[i] = {**fields, "batch_size": len(jobs)}
        return out

    def info(self) -> dict:
        pairs = {}
        for pair, translator in self.translators.items():
            meta, path = translator.meta, self.checkpoints[pair]
            pairs[pair] = {"kind": "translation", "pair": pair, "checkpoint": path, "id": checkpoint_id(path, meta),
                           "step": meta.get("step"), "scores": meta.get("scores"),
                           "device": str(translator.runtime.device)}
        return {"pairs": pairs, "pid": os.getpid()}

    def batch_stats(self) -> dict:
        return {**self.stats.summary(), "pid": os.getpid()}


@serve.deployment(name="captioner", max_ongoing_requests=64, max_queued_requests=128,
                  ray_actor_options={"num_cpus": 0.4}, health_check_period_s=2, health_check_timeout_s=30)
class CaptionerModel:
    def __init__(self, checkpoint: str, device: str = "auto", threads: int = 1):
        from pipeline.inference.captioner import Captioner

        self.captioner = Captioner.from_checkpoint(checkpoint, device=device, threads=threads)
        self.checkpoint, self.stats = checkpoint, BatchStats()

    def reconfigure(self, user_config: dict) -> None:
        size, wait = _batch_settings(user_config)
        self.caption.set_max_batch_size(size)
        self.caption.set_batch_wait_timeout_s(wait)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def caption(self, jobs: list[ImageJob]) -> list[dict]:
        self.stats.add(len(jobs))
        return await asyncio.to_thread(self._caption, jobs)

    def _caption(self, jobs: list[ImageJob]) -> list[dict]:
        out: list[dict] = [{}] * len(jobs)
        for (beam, attention), rows in _group_by(jobs, lambda j: (j.beam_size, j.return_attention)).items():
            results = self.captioner.caption([jobs[i].data for i in rows], beam_size=beam, return_attention=attention)
            for i, result in zip(rows, results, strict=True):
                out[i] = {"text": result.text, "words": result.words, "score": result.score, "batch_size": len(jobs),
                          "attention": result.attention, "grid": list(result.grid) if result.grid else None}
        return out

    def info(self) -> dict:
        meta = self.captioner.meta
        return {"kind": "captioning", "checkpoint": self.checkpoint, "id": checkpoint_id(self.checkpoint, meta),
                "step": meta.get("step"), "scores": meta.get("scores"), "attention": self.captioner.has_attention,
                "image_size": self.captioner.images.size, "device": str(self.captioner.runtime.device),
                "pid": os.getpid()}

    def batch_stats(self) -> dict:
        return {**self.stats.summary(), "pid": os.getpid()}
