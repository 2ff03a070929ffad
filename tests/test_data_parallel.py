"""Splitting a global batch between data-parallel ranks: every row lands on exactly one rank."""

import torch

from pipeline.data.batching import ImageBatch, TranslationBatch, row_shares
from pipeline.data.caption_batches import CaptionBatch
from pipeline.training.data_parallel import DataParallel


def test_row_shares_cover_every_row_once_and_differ_by_at_most_one():
    for n in range(0, 12):
        for world in (1, 2, 3, 5):
            shares = [row_shares(n, r, world) for r in range(world)]
            sizes = [s.stop - s.start for s in shares]
            assert [i for s in shares for i in range(s.start, s.stop)] == list(range(n))
            assert max(sizes) - min(sizes) <= 1


def test_translation_shards_concatenate_to_the_batch():
    batch = TranslationBatch(
        *(torch.arange(5 * k).view(5, k) for k in (3,)),
        *(torch.arange(5),),
        *(torch.arange(5 * 4).view(5, 4) for _ in range(2)),
        torch.arange(5),
    )
    parts = [batch.shard(r, 2) for r in range(2)]
    for name in ("src", "src_lengths", "tgt_in", "tgt_out", "index"):
        assert torch.equal(torch.cat([getattr(p, name) for p in parts]), getattr(batch, name))
    assert (
        TranslationBatch(
            *(t[:1] for t in (batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out, batch.index))
        ).shard(1, 2)
        is None
    )  # one row, two ranks


def test_caption_shards_keep_each_caption_with_its_image():
    images = torch.arange(4).float().view(4, 1, 1, 1).expand(4, 3, 2, 2)
    caption_image = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    tgt = torch.arange(7).view(7, 1) + 4
    batch = CaptionBatch(images, caption_image, tgt, tgt, torch.tensor([10, 11, 12, 13]))
    parts = [batch.shard(r, 2) for r in range(2)]
    assert [len(p.images) for p in parts] == [2, 2] and [len(p.tgt_in) for p in parts] == [3, 4]
    for part in parts:  # each caption still points at the image it describes
        assert torch.equal(
            part.images[part.caption_image, 0, 0, 0], (part.image_index[part.caption_image] - 10).float()
        )
    assert torch.equal(torch.cat([p.tgt_out for p in parts]), batch.tgt_out)


def test_a_single_process_is_not_data_parallel():
    parallel = DataParallel.current()
    batch = ImageBatch(torch.zeros(3, 1, 2, 2), torch.arange(3))
    assert not parallel.active and parallel.is_main and parallel.shard(batch) is batch
    assert parallel.sum([1.5, 2.0]) == [1.5, 2.0] and parallel.broadcast({"bleu": 1}) == {"bleu": 1}


def test_ray_train_report_lines_are_lowered_to_warnings_only():
    """The two Train V2 loggers that print "Reporting training result …" and "Checkpoint successfully
    created at …" on every checkpoint pass warnings but no longer INFO, in the Ray version we pin."""
    import logging

    from ray.train.v2._internal.execution import context, storage

    from pipeline.training.ray_train import _quiet_reports

    loggers = [context.logger, storage.logger]
    before = [lg.level for lg in loggers]
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    try:
        for lg in loggers:
            lg.setLevel(logging.INFO)
            lg.addHandler(handler)
        _quiet_reports()
        for lg in loggers:
            lg.info("Reporting training result 1")
            lg.warning("a real warning")
        assert seen == ["a real warning", "a real warning"]
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
