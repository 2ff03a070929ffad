"""Text-to-image GAN-CLS (Reed et al. 2016) on Flickr8k at 64×64, conditioned on the project's own
sentence encoder (:mod:`pipeline.gan.text_encoder`), which is trained first, on the same captions.

``train``: (1) the image–text joint embedding, with the project's Trainer; (2) the matching-aware
DCGAN, with the GAN loop. ``evaluate``: a grid for 8 test captions and a retrieval check that the
conditioning is real — generated images are scored against their own caption and random ones.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from pipeline.config import Config, RunConfig
from pipeline.gan.training import GanTrainConfig
from pipeline.tasks import Task
from pipeline.training.trainer import LossOutput, TrainConfig


class TextImageData(Config):
    root: str | None = None  # Flickr8k folder; default $PIPELINE_DATASETS/flickr8k
    image_size: int = 64  # images are squashed to size × size (the shared copy is already squashed)
    max_len: int = 20  # caption tokens kept
    min_freq: int = 3  # words seen fewer times in train captions become <unk>


class EncoderConfig(Config):
    embed_dim: int = 128  # joint space size = the GAN's condition size
    word_dim: int = 128
    hidden: int = 256  # per direction of the biLSTM
    image_width: int = 32  # channels of the image encoder's first conv
    temperature: float = 0.1  # of the contrastive softmax
    batch_size: int = 64
    train: TrainConfig = TrainConfig(lr=1e-3, max_epochs=8, log_every=50, checkpoint_every=500)


class TextGanModel(Config):
    z_dim: int = 100
    width: int = 32  # D's first conv channels (G mirrors it)
    cond_dim: int = 128  # the compressed text condition (Reed et al.: 128)


class TextGanEvaluate(Config):
    n_captions: int = 1000  # test captions (the first of each test image) in the retrieval check
    seed: int = 7


class TextToImageConfig(Config):
    task: Literal["text_to_image"] = "text_to_image"
    run: RunConfig = RunConfig()
    data: TextImageData = TextImageData()
    encoder: EncoderConfig = EncoderConfig()
    model: TextGanModel = TextGanModel()
    train: GanTrainConfig = GanTrainConfig()
    evaluate: TextGanEvaluate = TextGanEvaluate()


@dataclass
class CaptionSplit:
    images: torch.Tensor  # (N, S, S, 3) uint8
    tokens: torch.Tensor  # (M, T) word ids, 0-padded
    image_of: torch.Tensor  # (M,) the image of each caption
    captions: list[str]


@dataclass
class PairBatch:
    images: torch.Tensor  # (B, 3, S, S) in [0, 1]
    tokens: torch.Tensor  # (B, T)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def to(self, device: torch.device) -> PairBatch:
        return PairBatch(self.images.to(device), self.tokens.to(device))


def caption_tokens(captions: list[str], vocab, max_len: int) -> torch.Tensor:
    from pipeline.data.tokenization import normalize, tokenize

    words = tokenize([normalize(c, "en") for c in captions], "en", lowercase=True)
    ids = torch.zeros(len(words), max_len, dtype=torch.long)
    for i, sentence in enumerate(words):
        row = vocab.encode(sentence[:max_len]) or [vocab.unk_id]
        ids[i, :len(row)] = torch.tensor(row)
    return ids


def prepare(cfg: TextToImageConfig, force: bool = False) -> tuple[dict[str, CaptionSplit], object]:
    from pipeline.data.flickr8k import load_flickr8k
    from pipeline.data.images import ImageConfig, build_image_stage, open_split
    from pipeline.data.tokenization import normalize, tokenize
    from pipeline.data.vocabulary import Vocabulary

    dataset = load_flickr8k(cfg.data.root)
    splits = {s: dataset.split(s) for s in ("train", "dev", "test")}
    stage = build_image_stage(Path(cfg.run.stages), {s: [ex.path for ex in items] for s, items in splits.items()},
                              ImageConfig(size=cfg.data.image_size, resize="squash"), force,
                              name=f"flickr8k-gan-{cfg.data.image_size}")
    train_caps = [c for ex in splits["train"] for c in ex.captions]
    vocab = Vocabulary.build(tokenize([normalize(c, "en") for c in train_caps], "en", lowercase=True),
                             min_freq=cfg.data.min_freq)
    out = {}
    for name, items in splits.items():
        captions = [c for ex in items for c in ex.captions]
        image_of = torch.tensor([i for i, ex in enumerate(items) for _ in ex.captions])
        out[name] = CaptionSplit(torch.from_numpy(np.array(open_split(stage, name))),
                                 caption_tokens(captions, vocab, cfg.data.max_len), image_of, captions)
    return out, vocab


def first_captions(split: CaptionSplit, limit: int) -> torch.Tensor:
    """Index of the first caption of each of the first ``limit`` images."""
    first = torch.ones(len(split.image_of), dtype=torch.bool)
    first[1:] = split.image_of[1:] != split.image_of[:-1]
    return first.nonzero().squeeze(1)[:limit]


class PairBatches:
    """Epoch e: every training image once, with one of its captions chosen by (seed, e)."""

    def __init__(self, split: CaptionSplit, batch_size: int, seed: int):
        self.split, self.batch_size, self.seed = split, batch_size, seed

    def epoch(self, epoch: int) -> _PairEpoch:
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        choice = torch.randperm(len(self.split.image_of), generator=gen)
        picked = torch.zeros(len(self.split.images), dtype=torch.long)
        picked[self.split.image_of[choice]] = choice  # a random caption per image
        return _PairEpoch(self, picked[torch.randperm(len(picked), generator=gen)])


class _PairEpoch:
    """Batches built lazily, so an epoch never holds all its float images at once."""

    def __init__(self, source: PairBatches, order: torch.Tensor):
        self.source, self.order = source, order

    def __len__(self) -> int:
        return len(self.order) // self.source.batch_size  # full batches only (batch norm, contrastive)

    def __getitem__(self, i: int) -> PairBatch:
        size, split = self.source.batch_size, self.source.split
        captions = self.order[i * size:(i + 1) * size]
        return PairBatch(to_unit_float(split.images[split.image_of[captions]]), split.tokens[captions])


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S) in [0, 1]


def embed_texts(encoder, tokens: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(tokens[i:i + batch_size]) for i in range(0, len(tokens), batch_size)])


def embed_images(encoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``images`` float (N, 3, S, S) in [0, 1]."""
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def contrastive_step(model, batch: PairBatch) -> LossOutput:
    from pipeline.gan.text_encoder import symmetric_contrastive_loss

    loss = symmetric_contrastive_loss(model.image(batch.images), model.text(batch.tokens), model.temperature)
    return LossOutput(loss, batch.n_tokens)


def encoder_args(cfg: TextToImageConfig, vocab_size: int) -> dict:
    e = cfg.encoder
    return {"vocab_size": vocab_size, "embed_dim": e.embed_dim, "word_dim": e.word_dim, "hidden": e.hidden,
            "image_width": e.image_width, "temperature": e.temperature}


def train_encoder(cfg: TextToImageConfig, data: dict[str, CaptionSplit], vocab, runtime, run_dir: Path,
                  restart: bool):
    """Stage 1: the joint embedding, selected by caption retrieval recall@1 (1 of 100) on dev."""
    from pipeline.checkpoint import load_checkpoint
    from pipeline.gan.text_encoder import JointEmbedding, match_scores
    from pipeline.training.trainer import Trainer

    args = encoder_args(cfg, len(vocab))
    model = JointEmbedding(**args)
    dev = data["dev"]
    dev_idx = first_captions(dev, 1000)
    dev_images = to_unit_float(dev.images[dev.image_of[dev_idx]])

    def validate(joint) -> dict[str, float]:
        scores = match_scores(embed_images(joint.image, dev_images.to(runtime.device)),
                              embed_texts(joint.text, dev.tokens[dev_idx].to(runtime.device)))
        return {"recall_at_1": scores["recall_at_1"], "auc": scores["auc"]}

    meta = {"task": "text_encoder", "encoder": args, "vocab": vocab.to_json()}
    trainer = Trainer(cfg.encoder.train, runtime, model, contrastive_step,
                      PairBatches(data["train"], cfg.encoder.batch_size, cfg.encoder.train.seed), validate,
                      run_dir, meta, score_name="recall_at_1", unit="pair", perplexity=False)
    trainer.fit(resume=not restart)
    model.load_state_dict(load_checkpoint(trainer.best_path).model)
    return model.eval()


def gan_model_args(cfg: TextToImageConfig) -> dict:
    size = cfg.data.image_size
    return {"architecture": "dcgan", "image_shape": [3, size, size], "z_dim": cfg.model.z_dim,
            "width": cfg.model.width, "hidden": 0, "embed_dim": cfg.encoder.embed_dim, "cond_dim": cfg.model.cond_dim}


def grid_caption_indices(split: CaptionSplit, rows: int = 8) -> torch.Tensor:
    """8 test captions spread over the split (first caption of evenly spaced images)."""
    firsts = first_captions(split, len(split.images))
    return firsts[torch.linspace(0, len(firsts) - 1, rows).long()]


def train(cfg: TextToImageConfig, args: argparse.Namespace) -> Path:
    from pipeline.config import dump_yaml
    from pipeline.device import resolve_runtime
    from pipeline.files import write_text
    from pipeline.gan.models import build_players
    from pipeline.gan.training import GanPlayers, GanTrainer

    runtime = resolve_runtime(cfg.train.device, "fp32", cfg.train.threads)
    restart = getattr(args, "restart", False)
    data, vocab = prepare(cfg)
    run_dir = Path(cfg.run.dir)
    write_text(run_dir / "config.yaml", dump_yaml(cfg))
    joint = train_encoder(cfg, data, vocab, runtime, run_dir / "encoder", restart)
    train_split, test = data["train"], data["test"]
    joint_emb = embed_texts(joint.text, train_split.tokens.to(runtime.device)).cpu()  # frozen (M, E), unit norm
    stats = ConditionStats.fit(joint_emb)
    text_emb = stats(joint_emb)
    grid = grid_caption_indices(test)
    rows = cfg.train.sample_count // len(grid)
    fixed = stats(embed_texts(joint.text, test.tokens[grid].to(runtime.device)).cpu()).repeat_interleave(rows, 0)
    margs = gan_model_args(cfg)
    meta = {"task": "text_to_image", "config": cfg.to_dict(), "model": margs, "vocab": vocab.to_json(),
            "encoder": encoder_args(cfg, len(vocab)), "grid_captions": [test.captions[i] for i in grid]}
    extra = {"text_encoder": joint.text.state_dict(), "image_encoder": joint.image.state_dict(),
             "condition_mean": stats.mean, "condition_std": stats.std}

    def fetch(idx: torch.Tensor):
        return to_unit_float(train_split.images[train_split.image_of[idx]]) * 2 - 1, text_emb[idx]

    generator, discriminator = build_players(margs)
    GanTrainer(cfg.train, runtime, GanPlayers(generator, discriminator), fetch, len(text_emb), run_dir, meta,
               cfg.model.z_dim, fixed_condition=fixed, extra=extra).fit(resume=not restart)
    return run_dir


@dataclass
class ConditionStats:
    """Per-dimension standardisation of the sentence embeddings that condition the GAN.

    The joint embedding is unit-norm, so each of its E components is ~1/√E; through GAN-CLS's N(0, 0.02)
    compression layer the text then reaches G ~50× weaker than z and the generator learns to ignore it
    (a 200-step run scored chance on the conditioning check). Standardised with the training captions'
    mean and std, the condition enters both players at the same scale as z ~ N(0, I).
    """

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, embeddings: torch.Tensor) -> ConditionStats:
        return cls(embeddings.mean(0), embeddings.std(0).clamp_min(1e-6))

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        return (embeddings - self.mean) / self.std


@dataclass
class TextToImage:
    """Everything inference needs, rebuilt from one checkpoint."""

    generator: torch.nn.Module
    text_encoder: torch.nn.Module
    image_encoder: torch.nn.Module
    vocab: object
    meta: dict
    condition: ConditionStats | None = None  # None: a checkpoint from before standardisation

    def embed(self, captions: list[str]) -> torch.Tensor:
        """Captions → their unit vectors in the joint space (what the retrieval check compares)."""
        cfg = self.meta["config"]["data"]
        return embed_texts(self.text_encoder, caption_tokens(captions, self.vocab, cfg["max_len"]))

    def generate(self, text_emb: torch.Tensor, z: torch.Tensor, batch_size: int = 200) -> torch.Tensor:
        """Images in [0, 1] for aligned (joint-space embedding, z) rows."""
        from pipeline.gan.figures import to_unit

        condition = self.condition(text_emb) if self.condition is not None else text_emb
        self.generator.eval()
        with torch.no_grad():
            return torch.cat([to_unit(self.generator(z[i:i + batch_size], condition[i:i + batch_size]))
                              for i in range(0, len(z), batch_size)])


def load_text_to_image(path) -> TextToImage:
    from pipeline.checkpoint import load_checkpoint
    from pipeline.data.vocabulary import Vocabulary
    from pipeline.errors import PipelineError
    from pipeline.gan.models import players_from_checkpoint
    from pipeline.gan.text_encoder import JointEmbedding

    ckpt = load_checkpoint(path)
    if ckpt.task != "text_to_image":
        raise PipelineError(f"{path} is a {ckpt.task!r} checkpoint, not text_to_image")
    generator, _, meta = players_from_checkpoint(path)
    joint = JointEmbedding(**meta["encoder"])
    joint.text.load_state_dict(ckpt.extra["text_encoder"])
    joint.image.load_state_dict(ckpt.extra["image_encoder"])
    stats = (ConditionStats(ckpt.extra["condition_mean"], ckpt.extra["condition_std"])
             if "condition_mean" in ckpt.extra else None)
    return TextToImage(generator, joint.text.eval(), joint.image.eval(), Vocabulary.from_json(meta["vocab"]), meta,
                       stats)


def evaluate(path: Path, args: argparse.Namespace) -> dict:
    """Grid for 8 test captions (same 8 z in every row), and the retrieval check of the conditioning."""
    from pipeline.device import resolve_runtime
    from pipeline.files import write_json
    from pipeline.gan.figures import captioned_grid
    from pipeline.gan.text_encoder import match_scores
    from pipeline.progress import table

    resolve_runtime("cpu")  # sets torch threads from $PIPELINE_THREADS
    model = load_text_to_image(path)
    cfg = TextToImageConfig.model_validate(model.meta["config"])
    data, _ = prepare(cfg)
    test = data["test"]
    n = getattr(args, "limit", None) or cfg.evaluate.n_captions
    idx = first_captions(test, n)
    captions = [test.captions[i] for i in idx]
    text_emb = model.embed(captions)
    z = torch.randn(len(idx), cfg.model.z_dim, generator=torch.Generator().manual_seed(cfg.evaluate.seed))
    fake = model.generate(text_emb, z)
    real = to_unit_float(test.images[test.image_of[idx]])
    shuffled = model.generate(text_emb.roll(1, dims=0), z)  # control: images made for another caption
    scores = {"generated": match_scores(embed_images(model.image_encoder, fake), text_emb),
              "real_test_images": match_scores(embed_images(model.image_encoder, real), text_emb),
              "generated_from_other_caption": match_scores(embed_images(model.image_encoder, shuffled), text_emb)}
    grid = grid_caption_indices(test)
    grid_caps = [test.captions[i] for i in grid]
    z_row = torch.randn(8, cfg.model.z_dim, generator=torch.Generator().manual_seed(cfg.evaluate.seed + 1))
    images = model.generate(model.embed(grid_caps).repeat_interleave(8, 0), z_row.repeat(len(grid), 1))
    figure = captioned_grid(images, grid_caps, Path(path).parent.parent / "figures" / "test_captions_grid.png")
    report = {"checkpoint": str(path), "step": model.meta.get("step"), "n_captions": len(idx),
              "match_scores": scores, "grid": str(figure), "grid_captions": grid_caps,
              "note": "scores use the image side of the project's own joint embedding (trained on real "
                      "images only); chance: auc 0.5, recall_at_1 0.01"}
    out = Path(getattr(args, "report", None) or Path(path).parent.parent / "text_to_image_report.json")
    write_json(out, report)
    print(table([[k, v["auc"], v["recall_at_1"], v["chance_recall_at_1"]] for k, v in scores.items()],
                ["images", "AUC match>random", "R@1 (of 100)", "chance R@1"]))
    print(f"grid: {figure}\nreport: {out}")
    return report


TASK = Task("text_to_image", TextToImageConfig, prepare, train, evaluate,
            "GAN-CLS text-to-image on Flickr8k 64x64 with the project's own sentence encoder")
