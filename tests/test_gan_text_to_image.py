"""Text-to-image pieces: the sentence encoder, the retrieval score, and conditioning end to end."""

import pytest
import torch

from pipeline.data.caption_pairs import caption_tokens
from pipeline.data.vocabulary import Vocabulary
from pipeline.gan.dcgan import DCGANGenerator
from pipeline.gan.text_encoder import ImageEncoder, SentenceEncoder, match_scores, symmetric_contrastive_loss


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.build([["a", "dog", "runs", "on", "the", "grass"], ["two", "children", "play", "in", "snow"]])


def test_sentence_encoder_ignores_padding(vocab):
    torch.manual_seed(0)
    encoder = SentenceEncoder(len(vocab), word_dim=8, hidden=8, embed_dim=6).eval()
    short = caption_tokens(["a dog runs"], vocab, max_len=5)
    long = caption_tokens(["a dog runs"], vocab, max_len=12)
    torch.testing.assert_close(encoder(short), encoder(long))
    assert encoder(short).norm(dim=1).item() == pytest.approx(1.0, abs=1e-5)


def test_caption_tokens_map_unknown_words_and_truncate(vocab):
    ids = caption_tokens(["A dog flies over the moon and far away"], vocab, max_len=4)
    assert ids.shape == (1, 4)
    assert ids[0, 0] == vocab.stoi["a"] and ids[0, 2] == vocab.unk_id


def test_match_scores_perfect_and_chance():
    emb = torch.nn.functional.normalize(torch.randn(300, 16), dim=1)
    perfect = match_scores(emb, emb, n_distractors=20)
    assert perfect["auc"] == 1.0 and perfect["recall_at_1"] == 1.0
    noise = match_scores(torch.nn.functional.normalize(torch.randn(300, 16), dim=1), emb, n_distractors=20)
    assert 0.4 < noise["auc"] < 0.6


def test_contrastive_loss_prefers_aligned_pairs():
    emb = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    aligned = symmetric_contrastive_loss(emb, emb, 0.1)
    shuffled = symmetric_contrastive_loss(emb, emb.roll(1, dims=0), 0.1)
    assert aligned < shuffled


def test_conditioning_end_to_end_same_z_different_caption_different_image(vocab):
    torch.manual_seed(0)
    encoder = SentenceEncoder(len(vocab), word_dim=8, hidden=8, embed_dim=6).eval()
    G = DCGANGenerator(z_dim=10, channels=3, image_size=64, width=4, embed_dim=6, cond_dim=4)
    text = encoder(caption_tokens(["a dog runs on the grass", "two children play in snow"], vocab, 8))
    z = torch.randn(1, 10).expand(2, -1)
    with torch.no_grad():
        images = G(z, text)
        same = G(z, text[:1].expand(2, -1))
    assert images.shape == (2, 3, 64, 64)
    # at N(0, 0.02) init the text's effect is small but far above float32 rounding (~1e-7 here),
    # while the same caption gives bitwise-equal rows
    assert (images[0] - images[1]).abs().max() > 1e-5
    torch.testing.assert_close(same[0], same[1])
    assert ImageEncoder(embed_dim=6, width=4)(images).shape == (2, 6)


def test_standardised_condition_reaches_the_generator_at_the_scale_of_z():
    """Unit-norm embeddings barely move an N(0, 0.02)-initialised G; standardised ones move it like z does."""
    from pipeline.gan.text_to_image import ConditionStats

    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(512, 128) + 0.3, dim=1)  # unit vectors, like the encoder's
    stats = ConditionStats.fit(emb)
    standard = stats(emb)
    torch.testing.assert_close(standard.mean(0), torch.zeros(128), atol=1e-5, rtol=0)
    torch.testing.assert_close(standard.std(0), torch.ones(128), atol=1e-5, rtol=0)
    G = DCGANGenerator(z_dim=100, channels=3, image_size=64, width=8, embed_dim=128, cond_dim=128)  # train mode
    z = torch.randn(64, 100)
    with torch.no_grad():
        by_z = (G(z, standard[:64]) - G(z.roll(1, 0), standard[:64])).abs().mean()
        by_raw_text = (G(z, emb[:64]) - G(z, emb[64:128])).abs().mean()
        by_text = (G(z, standard[:64]) - G(z, standard[64:128])).abs().mean()
    assert by_raw_text < 0.05 * by_z  # the failure mode: ~40x weaker than z, the text is ignored
    assert by_text > 0.15 * by_z and by_text > 5 * by_raw_text
