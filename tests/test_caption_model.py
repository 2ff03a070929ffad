"""Image encoder shapes, position embeddings, the doubly stochastic penalty and the autoencoder init hook."""

from __future__ import annotations

import pytest
import torch

from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.errors import PipelineError
from pipeline.models.captioner import (
    CaptionModelConfig,
    build_caption_model,
    concept_targets,
    doubly_stochastic_penalty,
)
from pipeline.models.decoder import DecoderConfig
from pipeline.models.image_encoder import CompactResNet, ImageEncoder, ImageEncoderConfig

TINY = ImageEncoderConfig(widths=(8, 16), blocks=(1, 1), stem_stride=2, stem_pool=True)


def test_encoder_output_is_a_grid_memory():
    encoder = ImageEncoder(TINY).eval()
    out = encoder(torch.rand(3, 3, 32, 32))
    # 32 → stem /2 → pool /2 → stage 2 /2 = 4 x 4 grid of 16 channels
    assert out.memory.shape == (3, 16, 16) and out.summary.shape == (3, 16)
    assert out.mask.dtype == torch.bool and bool(out.mask.all())
    assert encoder.grid_shape(32) == (4, 4)
    assert torch.equal(out.select(torch.tensor([2, 2, 0])).memory[1], out.memory[2])


def test_position_embeddings_tell_cells_apart():
    encoder = ImageEncoder(TINY).eval()
    flat = torch.full((1, 3, 32, 32), 0.5)  # a uniform image: every cell has the same CNN feature...
    memory = encoder(flat).memory[0]
    assert not torch.allclose(memory[0], memory[5])  # ... but not the same memory vector
    plain = ImageEncoder(TINY.model_copy(update={"position_embedding": False})).eval()
    plain.backbone.load_state_dict(encoder.backbone.state_dict())
    inner = plain(flat).memory[0]
    assert torch.allclose(inner[5], inner[6], atol=1e-6)  # interior cells identical without them


def test_doubly_stochastic_penalty_ignores_padding():
    attention = torch.softmax(torch.randn(2, 5, 4), dim=-1)  # (N, T, S)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    expected = sum(((1 - attention[n, : int(mask[n].sum())].sum(0)) ** 2).sum() for n in range(2))
    assert doubly_stochastic_penalty(attention, mask) == pytest.approx(float(expected), rel=1e-6)
    changed = attention.clone()
    changed[0, 3:] = torch.tensor([1.0, 0, 0, 0])  # padded steps may attend anywhere
    assert doubly_stochastic_penalty(changed, mask) == pytest.approx(float(expected), rel=1e-6)
    # The minimum is reached when every cell is looked at exactly once in total.
    assert doubly_stochastic_penalty(torch.eye(4)[None], torch.ones(1, 4, dtype=torch.bool)) == 0


def test_show_and_tell_has_no_attention():
    cfg = CaptionModelConfig(
        encoder=TINY, decoder=DecoderConfig(embedding_size=8, hidden_size=16, attention="none", init="feed")
    )
    model = build_caption_model(cfg, vocab_size=11)
    out = model(torch.tensor([[2, 5, 6]]), images=torch.rand(1, 3, 32, 32))
    assert out.logits.shape == (1, 3, 11) and out.attention is None


def test_concept_targets_are_the_bag_of_words_of_each_image():
    tgt_out = torch.tensor([[5, 6, 3, 0], [7, 5, 3, 0], [8, 1, 9, 3]])  # ids; 0 pad, 1 unk, 3 </s>
    bag = concept_targets(tgt_out, torch.tensor([0, 0, 1]), n_images=2, vocab_size=10, ignore=(0, 1, 3))
    assert bag[0].nonzero().flatten().tolist() == [5, 6, 7]  # union of image 0's two captions
    assert bag[1].nonzero().flatten().tolist() == [8, 9]  # <unk>, </s> and padding never count


def test_concept_loss_trains_the_cnn_and_survives_a_checkpoint(tmp_path):
    from pipeline.data.caption_batches import CaptionBatch
    from pipeline.losses import caption_loss

    cfg = CaptionModelConfig(
        encoder=TINY, decoder=DecoderConfig(embedding_size=8, hidden_size=16, attention="bahdanau", init="bridge")
    )
    batch = CaptionBatch(
        torch.rand(2, 3, 32, 32),
        torch.tensor([0, 1]),
        torch.tensor([[2, 5, 6], [2, 7, 0]]),
        torch.tensor([[5, 6, 3], [7, 3, 0]]),
        torch.tensor([0, 1]),
    )
    plain = build_caption_model(cfg, vocab_size=11)
    assert plain.concept_head is None  # off by default: the checkpoint layout is unchanged
    torch.manual_seed(0)
    model = build_caption_model(cfg.model_copy(update={"concept_loss": 1.0}), vocab_size=11).eval()  # no dropout
    base = caption_loss(model, batch, 0.0, 1.0, concept_weight=0.0)
    with_concepts = caption_loss(model, batch, 0.0, 1.0, concept_weight=1.0)
    assert with_concepts.extras["concept_bce"] > 0
    assert float(with_concepts.loss.detach()) > float(base.loss.detach())
    with_concepts.loss.backward()
    stem = model.encoder.backbone.stem[0].weight.grad
    assert stem is not None and float(stem.abs().sum()) > 0
    rebuilt = build_caption_model(cfg.model_copy(update={"concept_loss": 1.0}), vocab_size=11, load_init=False)
    rebuilt.load_state_dict(model.state_dict())  # strict: the head is part of the checkpoint


def _autoencoder_checkpoint(path, backbone: CompactResNet) -> None:
    """A checkpoint in the project format, as the convolutional autoencoder task would write it."""
    model = {f"encoder.{k}": v for k, v in backbone.state_dict().items()}
    model["decoder.deconv.weight"] = torch.randn(16, 8, 3, 3)
    save_checkpoint(path, Checkpoint({"task": "autoencoder", "config": {}}, model))


def test_encoder_init_from_autoencoder_checkpoint(tmp_path):
    source = CompactResNet(TINY)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    _autoencoder_checkpoint(tmp_path / "ae.pt", source)
    cfg = CaptionModelConfig(
        encoder=TINY.model_copy(update={"init_checkpoint": str(tmp_path / "ae.pt")}),
        decoder=DecoderConfig(embedding_size=8, hidden_size=16),
    )
    model = build_caption_model(cfg, vocab_size=11, mean=(0.1, 0.2, 0.3))
    backbone = model.encoder.backbone
    assert torch.equal(backbone.stem[0].weight, source.stem[0].weight)
    assert torch.equal(backbone.stages[1][0].conv2.weight, source.stages[1][0].conv2.weight)
    assert torch.allclose(backbone.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]))  # own data stats kept


def test_encoder_init_with_nothing_matching_is_an_error(tmp_path):
    save_checkpoint(tmp_path / "other.pt", Checkpoint({"task": "gan"}, {"generator.w": torch.zeros(2)}))
    cfg = CaptionModelConfig(
        encoder=TINY.model_copy(update={"init_checkpoint": str(tmp_path / "other.pt")}),
        decoder=DecoderConfig(embedding_size=8, hidden_size=16),
    )
    with pytest.raises(PipelineError, match="no tensors under 'encoder.'"):
        build_caption_model(cfg, vocab_size=11)


def test_search_never_emits_unk_unless_allowed():
    from pipeline.inference.captioner import NoUnkDecoder
    from pipeline.search import beam_search, greedy_search

    cfg = CaptionModelConfig(encoder=TINY, decoder=DecoderConfig(embedding_size=8, hidden_size=16, dropout=0.0))
    model = build_caption_model(cfg, vocab_size=9).eval()
    with torch.no_grad():
        model.decoder.output.bias[1] = 100.0  # <unk> (id 1) would win every step
        enc = model.encode(images=torch.rand(2, 3, 32, 32))
    plain = greedy_search(model.decoder, enc, 2, 3, 5).best_tokens()
    assert all(tok == 1 for row in plain for tok in row)
    banned = NoUnkDecoder(model.decoder, unk_id=1)
    for result in (greedy_search(banned, enc, 2, 3, 5), beam_search(banned, enc, 2, 3, 3, 5)):
        assert all(1 not in row for row in result.best_tokens())


def test_encoder_init_from_the_projects_resnet_autoencoder(tmp_path):
    """Contract with pipeline.unsupervised: its ResNetAutoencoder's encoder.* tensors initialise our CNN."""
    from pipeline.unsupervised.autoencoder import ResNetAutoencoder

    autoencoder = ResNetAutoencoder((3, 32, 32), code_size=16, channels=[8, 16])
    save_checkpoint(tmp_path / "ae.pt", Checkpoint({"task": "autoencoder"}, autoencoder.state_dict()))
    encoder_cfg = ImageEncoderConfig(
        widths=(8, 16), blocks=(1, 1), stem_stride=1, stem_pool=False, init_checkpoint=str(tmp_path / "ae.pt")
    )
    model = build_caption_model(
        CaptionModelConfig(encoder=encoder_cfg, decoder=DecoderConfig(embedding_size=8, hidden_size=16)), vocab_size=11
    )
    for name, tensor in autoencoder.encoder.state_dict().items():
        if name not in ("mean", "std"):
            assert torch.equal(model.encoder.backbone.state_dict()[name], tensor), name
