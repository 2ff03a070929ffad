"""Model deployments: load a checkpoint once per replica, batch requests, know nothing about HTTP.

Each wraps the package's inference API (``pipeline.inference``); no model code lives here. Callers
send one item (a sentence's subword ids, an image's bytes) per call. A :class:`~serving.batching.BatchQueue`
with one consumer forms a batch from everything waiting each time the model is free; the batch is
validated and decoded item by item where items can fail (a broken image fails alone, never its
batch-mates), and the search drops the rows of requests whose caller has gone (timeout, disconnect).
``max_batch_size``, ``max_batch_cost`` and ``batch_wait_timeout_s`` come from the deployment's
``user_config`` through ``reconfigure`` and change without a restart.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ray import serve

from pipeline.errors import PipelineError
from serving.batching import BatchQueue, Waiting
from serving.stats import StatsReporter, memory


@dataclass(frozen=True)
class SentenceJob:
    pair: str
    ids: tuple[int, ...]  # source subword ids (the ingress encodes and length-checks the text)
    beam_size: int | None = None
    return_attention: bool = False
    timeout_s: float = 30.0  # nobody waits for the answer after this


@dataclass(frozen=True)
class ImageJob:
    data: bytes  # the encoded upload; decoded in the batch, per item
    beam_size: int | None = None
    return_attention: bool = False
    timeout_s: float = 30.0


@dataclass(frozen=True)
class SearchJob:
    data: bytes  # the encoded upload (its header already checked by the ingress)
    k: int


class ItemError(PipelineError):
    """This item's input is bad (the other items of its batch are unaffected)."""


def batch_settings(user_config: dict) -> dict:
    """``user_config`` → :meth:`BatchQueue.configure` keywords (unknown keys are an error)."""
    known = {"max_batch_size", "max_batch_cost", "batch_wait_timeout_s"}
    if set(user_config) - known:
        raise ValueError(f"unknown user_config keys {sorted(set(user_config) - known)}; known: {sorted(known)}")
    cost = user_config.get("max_batch_cost")
    return {
        "max_batch_size": int(user_config.get("max_batch_size", 32)),
        "max_batch_cost": None if cost is None else int(cost),
        "wait_s": float(user_config.get("batch_wait_timeout_s", 0.0)),
    }


def checkpoint_id(path: str, meta: dict) -> str:
    """A short, stable id: run folder, file name, training step and modification time of the checkpoint."""
    stat = Path(path).stat()
    return f"{Path(path).parent.parent.name}/{Path(path).name}@step{meta.get('step', '?')}-{int(stat.st_mtime)}"


def _group_by(jobs: list, key) -> dict:
    groups: dict = {}
    for i, job in enumerate(jobs):
        groups.setdefault(key(job), []).append(i)
    return groups


def _keep(batch: list[Waiting], rows: list[int]):
    """The search's ``keep``: positions in ``rows`` → whether their callers still wait."""
    return lambda positions: [batch[rows[p]].wanted() for p in positions]


class _BatchedModel:
    """Queue, ``reconfigure``, stats reporting and the per-call error shape shared by both models."""

    deployment_name = ""

    def _start_queue(self, stats) -> None:
        self.queue = BatchQueue(self._decode)
        self.reporter = StatsReporter(stats, self.deployment_name, self.snapshot)
        self.reporter.start()

    def reconfigure(self, user_config: dict) -> None:
        self.queue.configure(**batch_settings(user_config))
        self.reporter.start()

    async def _submit(self, job, cost: int) -> dict:
        self.reporter.start()
        try:
            return await self.queue.submit(job, job.timeout_s, cost)
        except PipelineError as err:  # this item's bad input → the ingress answers 4xx for it alone
            return {"error": str(err), "status": 422}
        except TimeoutError:
            return {"error": f"no answer within {job.timeout_s}s", "status": 504}

    def snapshot(self) -> dict:
        return {
            **self.queue.stats.summary(),
            "queued": len(self.queue),
            "busy": self.queue.busy,
            "pid": os.getpid(),
            "memory": memory(),
        }

    def batch_stats(self) -> dict:
        """This replica's stats (``/v1/stats`` shows every replica through the stats deployment)."""
        return self.snapshot()


@serve.deployment(
    name="translator",
    num_replicas=2,
    max_ongoing_requests=128,
    max_queued_requests=256,
    ray_actor_options={"num_cpus": 0.4},
    health_check_period_s=2,
    health_check_timeout_s=30,
)
class TranslatorModel(_BatchedModel):
    """Every configured language pair in one replica: on 2 CPUs, fewer processes beat one per pair."""

    deployment_name = "translator"

    def __init__(
        self, checkpoints: dict[str, str], device: str = "auto", threads: int = 1, quantize: str = "none", stats=None
    ):
        from pipeline.inference.translator import Translator

        self.translators, self.checkpoints = {}, checkpoints
        for pair, checkpoint in checkpoints.items():
            translator = Translator.from_checkpoint(checkpoint, device=device, threads=threads, quantize=quantize)
            if translator.pair != pair:
                raise ValueError(f"{checkpoint} translates {translator.pair}, but the serve config calls it {pair}")
            self.translators[pair] = translator
        self._start_queue(stats)

    async def translate(self, job: SentenceJob) -> dict:
        return await self._submit(job, max(len(job.ids), 1))

    def _decode(self, batch: list[Waiting]) -> list:
        import numpy as np

        jobs: list[SentenceJob] = [w.item for w in batch]
        out: list = [None] * len(jobs)
        for (pair, beam, attention), rows in _group_by(
            jobs, lambda j: (j.pair, j.beam_size, j.return_attention)
        ).items():
            translator = self.translators.get(pair)
            for i in rows:
                out[i] = self._check(translator, jobs[i])
            good = [i for i in rows if out[i] is None]
            src = [np.asarray(jobs[i].ids, dtype=np.int64) for i in good]
            found = translator.translate_ids(src, beam, keep=_keep(batch, good)) if good else []
            for i, hyps in zip(good, found, strict=True):
                if not hyps:  # dropped mid-search: its caller has gone
                    out[i] = TimeoutError()
                    continue
                fields = asdict(translator.translation(jobs[i].ids, hyps, attention))
                out[i] = {**{k: v for k, v in fields.items() if attention or k != "attention"}, "batch_size": len(jobs)}
        return out

    def _check(self, translator, job: SentenceJob) -> ItemError | None:
        """Per-item checks the ingress normally made already (other callers may not have)."""
        if translator is None:
            return ItemError(f"no model for {job.pair}; loaded pairs: {', '.join(self.translators)}")
        vocab = len(translator.src_subwords)
        if not all(0 <= t < vocab for t in job.ids):
            return ItemError(f"source ids must lie in [0, {vocab})")
        if len(job.ids) > translator.source.max_len:
            return ItemError(f"source is {len(job.ids)} subwords; at most {translator.source.max_len}")
        return None

    def info(self) -> dict:
        pairs = {}
        for pair, translator in self.translators.items():
            meta, path = translator.meta, self.checkpoints[pair]
            pairs[pair] = {
                "kind": "translation",
                "pair": pair,
                "checkpoint": path,
                "id": checkpoint_id(path, meta),
                "step": meta.get("step"),
                "scores": meta.get("scores"),
                "quantize": translator.quantized,
                "device": str(translator.runtime.device),
                "max_source_subwords": translator.source.max_len,
            }
        return {"pairs": pairs, "pid": os.getpid()}

    def source_encoders(self) -> dict:
        """Per pair, what the ingress needs to encode and length-check text itself (no torch there)."""
        return {pair: translator.source.to_dict() for pair, translator in self.translators.items()}


@serve.deployment(
    name="captioner",
    max_ongoing_requests=64,
    max_queued_requests=128,
    ray_actor_options={"num_cpus": 0.4},
    health_check_period_s=2,
    health_check_timeout_s=30,
)
class CaptionerModel(_BatchedModel):
    deployment_name = "captioner"

    def __init__(self, checkpoint: str, device: str = "auto", threads: int = 1, quantize: str = "none", stats=None):
        from pipeline.inference.captioner import Captioner

        self.captioner = Captioner.from_checkpoint(checkpoint, device=device, threads=threads, quantize=quantize)
        self.checkpoint = checkpoint
        self._start_queue(stats)

    async def caption(self, job: ImageJob) -> dict:
        return await self._submit(job, 1)

    def _decode(self, batch: list[Waiting]) -> list:
        jobs: list[ImageJob] = [w.item for w in batch]
        out: list = [None] * len(jobs)
        arrays = {}
        for i, job in enumerate(jobs):  # decode each upload alone: a broken one fails alone
            try:
                arrays[i] = self.captioner.prepare(job.data)
            except PipelineError as err:
                out[i] = ItemError(str(err))
        for (beam, attention), rows in _group_by(jobs, lambda j: (j.beam_size, j.return_attention)).items():
            good = [i for i in rows if i in arrays]
            if not good:
                continue
            images = self.captioner.to_tensor([arrays[i] for i in good])
            found = self.captioner.caption_tensors(images, beam, keep=_keep(batch, good)).hypotheses
            for i, hyps in zip(good, found, strict=True):
                out[i] = self._answer(hyps, attention, len(jobs)) if hyps else TimeoutError()
        return out

    def _answer(self, hyps, attention: bool, batch_size: int) -> dict:
        result = self.captioner.to_caption(hyps, attention)
        return {
            "text": result.text,
            "words": result.words,
            "score": result.score,
            "batch_size": batch_size,
            "attention": result.attention,
            "grid": list(result.grid) if result.grid else None,
        }

    def info(self) -> dict:
        meta = self.captioner.meta
        return {
            "kind": "captioning",
            "checkpoint": self.checkpoint,
            "id": checkpoint_id(self.checkpoint, meta),
            "step": meta.get("step"),
            "scores": meta.get("scores"),
            "attention": self.captioner.has_attention,
            "image_size": self.captioner.images.size,
            "min_side": self.captioner.min_side,
            "quantize": self.captioner.quantized,
            "device": str(self.captioner.runtime.device),
            "pid": os.getpid(),
        }


@dataclass(frozen=True)
class EditJob:
    data: bytes  # the encoded upload, decoded in the replica
    strokes: tuple[str, ...]  # "x,y,r,colour" in the GAN's pixel grid
    steps: int  # edit optimisation steps (the ingress caps them)
    max_seconds: float  # wall-time cap of the projection and of the edit, each
    frames: int = 8  # morph frames from the projection to the edit
    lines: tuple[str, ...] = ()  # sketch lines "x0,y0,x1,y1" in the GAN's pixel grid


@serve.deployment(
    name="editor",
    max_ongoing_requests=1,  # one edit at a time: an optimisation takes the replica's CPU
    max_queued_requests=1,  # one more may wait; beyond that the ingress answers 429 with Retry-After
    ray_actor_options={"num_cpus": 0.2},
    health_check_period_s=2,
    health_check_timeout_s=30,
)
class EditorModel:
    """iGAN-style editing (Zhu et al. 2016): project the upload onto the GAN's manifold, then move z until
    the generated image meets the colour strokes while staying near the projection. Bounded per request in
    steps and in seconds; no batching (each request is its own optimisation)."""

    def __init__(self, gan: str, encoder: str | None = None, threads: int = 1):
        import torch

        from pipeline.gan.editing import Editor
        from pipeline.gan.projection import ProjectionBudget

        torch.set_num_threads(threads)
        self.budget = ProjectionBudget(steps=150, restarts=2)  # each request caps its wall time (max_seconds)
        self.editor = Editor.from_checkpoint(gan, encoder, projection_budget=self.budget)
        self.checkpoints = {"gan": gan, "encoder": encoder}

    def edit(self, job: EditJob) -> dict:
        import dataclasses
        import time

        from pipeline.gan.constraints import rasterise_lines

        started = time.perf_counter()
        try:
            image = self._image(job.data)
            sketch = rasterise_lines(list(job.lines), self.editor.shape) if job.lines else None
            constraints = self.editor.constraints(list(job.strokes), sketch)  # bad strokes or lines: 422 first
            budget = dataclasses.replace(self.budget, max_seconds=job.max_seconds)
            projection = self.editor.project(image, budget=budget)
            result = self.editor.edit(
                projection, constraints, steps=job.steps, max_seconds=job.max_seconds, frames=job.frames
            )
        except PipelineError as err:
            return {"error": str(err), "status": 422}
        return {
            "original": _png(image),
            "projection": _png(projection.image[0]),
            "edit": _png(result.final),
            "frames": [_png(frame) for frame in result.frames],
            "method": self.editor.default_method,
            "projection_mse": float(projection.error[0]),
            "colour_error_before": result.colour_error_before,
            "colour_error_after": result.colour_error_after,
            "edge_error_before": result.edge_error_before,
            "edge_error_after": result.edge_error_after,
            "steps": result.steps,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _image(self, data: bytes):
        """The upload at the GAN's resolution and channels, in [0, 1] (a damaged file is this request's 422)."""
        import torch

        from pipeline.data.images import image_array

        try:
            return torch.from_numpy(image_array(data, self.editor.shape))
        except PipelineError as err:
            raise ItemError(str(err)) from None

    def info(self) -> dict:
        channels, height, width = self.editor.shape
        return {
            "kind": "editing",
            **self.checkpoints,
            "image_shape": [channels, height, width],
            "method": self.editor.default_method,
            "pid": os.getpid(),
        }


class ImageSearcher:
    """Image search (:class:`pipeline.unsupervised.image_search.ImageSearch`): encode the upload to a binary
    code, rank the index by Hamming distance; and the database images themselves, as thumbnails. A query
    costs milliseconds, so the ingress replica answers it itself (in a worker thread), without a batch queue
    or a Serve hop of its own."""

    def __init__(self, index: str, checkpoint: str | None = None, threads: int = 1):
        import torch

        from pipeline.unsupervised.image_search import ImageSearch

        torch.set_num_threads(threads)
        self.engine = ImageSearch.from_index(index, checkpoint)
        for split in self.engine.meta["splits"]:  # read the datasets now, not on the first thumbnail
            self.engine.image(split, 0)
        self.paths = {"index": index, "checkpoint": checkpoint or self.engine.meta["checkpoint"]}

    def search(self, job: SearchJob) -> dict:
        import time

        from pipeline.data.images import image_array

        started = time.perf_counter()
        try:
            image = image_array(job.data, self.engine.shape)
        except PipelineError as err:
            return {"error": str(err), "status": 422}
        hits = self.engine.search(image, job.k)
        return {"results": [asdict(h) for h in hits], "seconds": round(time.perf_counter() - started, 4)}

    def thumbnail(self, split: str, position: int) -> bytes | dict:
        try:
            return self.engine.thumbnail_png(split, position)
        except KeyError as err:
            return {"error": str(err.args[0]), "status": 404}

    def info(self) -> dict:
        engine = self.engine
        return {
            "kind": "search",
            **self.paths,
            "id": checkpoint_id(self.paths["index"], {}),
            "dataset": engine.dataset,
            "bits": engine.bits,
            "database": engine.size,
            "splits": list(engine.meta["splits"]),
            "image_shape": list(engine.shape),
            "min_side": max(1, min(engine.shape[1:]) // 4),
            "pid": os.getpid(),
        }


def _png(image) -> str:
    """A (C, H, W) tensor in [0, 1] as a PNG data URI, scaled up 4× (nearest) so small GAN images are visible."""
    import base64
    import io

    from PIL import Image

    array = (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    picture = picture.resize((picture.width * 4, picture.height * 4), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
