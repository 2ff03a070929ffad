"""Text-to-image GAN-CLS (Reed et al. 2016) on Flickr8k at 64×64, conditioned on the project's own
sentence encoder (:mod:`pipeline.gan.text_encoder`), which is trained first, on the same captions.

``train``: (1) the image–text joint embedding, with the project's Trainer; (2) the matching-aware
DCGAN, with the GAN loop. ``evaluate``: a grid for 8 test captions and a retrieval check that the
conditioning is real — generated images are scored against their own caption and random ones.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.data.caption_pairs import (
    first_captions,
    grid_caption_indices,
    load_caption_pairs,
    to_unit_float,
)
from pipeline.device import resolve_runtime
from pipeline.gan.figures import captioned_grid
from pipeline.gan.models import build_players
from pipeline.gan.text_to_image import (
    ConditionStats,
    TextToImage,
    TextToImageConfig,
    embed_texts,
    player_args,
    train_joint_embedding,
)
from pipeline.gan.training import GanPlayers, GanTrainer
from pipeline.progress import table
from pipeline.runs import RunFolder
from pipeline.tasks import EVAL_DEFAULTS, TRAIN_DEFAULTS, EvalOptions, Task, TrainOptions


def train(cfg: TextToImageConfig, options: TrainOptions = TRAIN_DEFAULTS) -> Path:
    runtime = resolve_runtime(cfg.train.device, "fp32", cfg.train.threads)
    data, vocab = load_caption_pairs(cfg.data, cfg.run.stages, options.force)
    folder = RunFolder(cfg.run.dir).start(cfg)
    joint = train_joint_embedding(cfg, data, vocab, runtime, folder.path / "encoder", options.restart)
    train_split, test = data["train"], data["test"]
    joint_emb = embed_texts(joint.text, train_split.tokens.to(runtime.device)).cpu()  # frozen (M, E), unit norm
    stats = ConditionStats.fit(joint_emb)
    text_emb = stats(joint_emb)
    grid = grid_caption_indices(test)
    rows = cfg.train.sample_count // len(grid)
    fixed = stats(embed_texts(joint.text, test.tokens[grid].to(runtime.device)).cpu()).repeat_interleave(rows, 0)
    margs = player_args(cfg)
    meta = RunFolder.meta(
        cfg,
        model=margs,
        vocab=vocab.to_json(),
        encoder=cfg.encoder.args(len(vocab)),
        grid_captions=[test.captions[i] for i in grid],
    )
    extra = {
        "text_encoder": joint.text.state_dict(),
        "image_encoder": joint.image.state_dict(),
        "condition_mean": stats.mean,
        "condition_std": stats.std,
    }

    def fetch(idx: torch.Tensor):
        return to_unit_float(train_split.images[train_split.image_of[idx]]) * 2 - 1, text_emb[idx]

    generator, discriminator = build_players(margs)
    GanTrainer(
        cfg.train,
        runtime,
        GanPlayers(generator, discriminator),
        fetch,
        len(text_emb),
        folder.path,
        meta,
        cfg.model.z_dim,
        fixed_condition=fixed,
        extra=extra,
    ).fit(resume=not options.restart)
    return folder.path


def evaluate(path: Path, options: EvalOptions = EVAL_DEFAULTS) -> dict:
    """Grid for 8 test captions (same 8 z in every row), and the retrieval check of the conditioning."""
    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    model = TextToImage.from_checkpoint(path)
    cfg = model.config
    data, _ = load_caption_pairs(cfg.data, cfg.run.stages)
    test = data["test"]
    n = len(first_captions(test, options.limit or cfg.evaluate.n_captions))
    scores = model.conditioning_check(test, n, cfg.evaluate.seed)
    grid_caps = [test.captions[i] for i in grid_caption_indices(test)]
    z_row = model.latents(8, cfg.evaluate.seed + 1)
    images = model.generate(model.embed(grid_caps).repeat_interleave(8, 0), z_row.repeat(len(grid_caps), 1))
    folder = RunFolder.of(path)
    figure = captioned_grid(images, grid_caps, folder.figures / "test_captions_grid.png")
    report = {
        "checkpoint": str(path),
        "step": model.meta.get("step"),
        "n_captions": n,
        "match_scores": scores,
        "grid": str(figure),
        "grid_captions": grid_caps,
        "note": "scores use the image side of the project's own joint embedding (trained on real "
        "images only); chance: auc 0.5, recall_at_1 0.01",
    }
    out = folder.write_report(report, "text_to_image_report.json", options.report)
    print(
        table(
            [[k, v["auc"], v["recall_at_1"], v["chance_recall_at_1"]] for k, v in scores.items()],
            ["images", "AUC match>random", "R@1 (of 100)", "chance R@1"],
        )
    )
    print(f"grid: {figure}\nreport: {out}")
    return report


TASK = Task(
    "text_to_image",
    TextToImageConfig,
    load_caption_pairs,
    train,
    evaluate,
    "GAN-CLS text-to-image on Flickr8k 64x64 with the project's own sentence encoder",
)
