"""DCGAN shapes, one training step per player, and real text conditioning."""

import pytest
import torch

from pipeline.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from pipeline.gan.losses import discriminator_loss, generator_loss
from pipeline.gan.mlp import MLPDiscriminator, MLPGenerator
from pipeline.gan.training import GanPlayers, gan_step


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 3)])
def test_dcgan_shapes_and_init(size, channels):
    G = DCGANGenerator(z_dim=16, channels=channels, image_size=size, width=8)
    D = DCGANDiscriminator(channels=channels, image_size=size, width=8)
    images = G(torch.randn(3, 16))
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1.0  # tanh output
    assert D(images).shape == (3,)
    conv = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.25)  # N(0, 0.02), Radford et al.


def test_mlp_gan_shapes():
    G, D = MLPGenerator(z_dim=8, hidden=16), MLPDiscriminator(hidden=16)
    assert D(G(torch.randn(5, 8))).shape == (5,)


def test_one_dcgan_step_lowers_each_players_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=16, channels=1, image_size=28, width=8)
    D = DCGANDiscriminator(channels=1, image_size=28, width=8)
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    z = torch.randn(16, 16)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    with torch.no_grad():
        fake = G(z)
        d_before = discriminator_loss(D(real), D(fake)).item()
    d_loss = discriminator_loss(D(real), D(fake))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    with torch.no_grad():
        assert discriminator_loss(D(real), D(fake)).item() < d_before
        g_before = generator_loss(D(G(z))).item()
    g_loss = generator_loss(D(G(z)))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    with torch.no_grad():
        assert generator_loss(D(G(z))).item() < g_before


def test_gan_step_reports_both_players():
    torch.manual_seed(0)
    players = GanPlayers(DCGANGenerator(8, 1, 28, 8), DCGANDiscriminator(1, 28, 8))
    opt_g = torch.optim.Adam(players.generator.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(players.discriminator.parameters(), lr=2e-4)
    row = gan_step(players, opt_g, opt_d, torch.rand(8, 1, 28, 28) * 2 - 1, None, torch.randn(8, 8), "minimax")
    assert set(row) == {"d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"}
    assert 0 < row["d_real"] < 1 and row["g_grad_norm"] > 0


def test_conditioning_changes_the_output_same_z_different_text():
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=16, channels=3, image_size=32, width=8, embed_dim=12, cond_dim=6)
    D = DCGANDiscriminator(channels=3, image_size=32, width=8, embed_dim=12, cond_dim=6)
    # Train-mode batch norm and one z for the whole batch: if the text were ignored, every row would be equal.
    z = torch.randn(1, 16).expand(4, -1)
    text = torch.randn(4, 12)
    with torch.no_grad():
        images = G(z, text)
        assert (images[0] - images[1]).abs().max() > 1e-3
        same = G(z, text[:1].expand(4, -1))
        torch.testing.assert_close(same[0], same[1])
        scores = D(images[:1].expand(4, -1, -1, -1), text)
        assert (scores[0] - scores[1]).abs() > 1e-4  # D sees the text too
    with pytest.raises(ValueError, match="text-conditioned"):
        G(z)
