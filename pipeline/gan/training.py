"""The alternating GAN training loop (Goodfellow et al. 2014, Alg. 1 with k = 1), for unconditional GANs
and text-conditioned GAN-CLS alike.

The trainer in :mod:`pipeline.training.trainer` optimises one loss of one model; a GAN is a two-player
game with two optimizers, so it has this loop, which reuses the project's checkpoint format, runtime
and logbook. Items are drawn by index: ``fetch(indices) -> (real images in [−1, 1], condition or None)``,
so one loop serves a tensor dataset and (image, caption) pairs. Epoch order is seeded by (seed, epoch)
and RNG state is checkpointed, so a resumed run continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import nn

from pipeline.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from pipeline.config import default
from pipeline.device import Runtime
from pipeline.gan.figures import save_grid, to_unit
from pipeline.gan.losses import GeneratorCost, discriminator_loss, generator_loss, matching_aware_discriminator_loss
from pipeline.progress import log
from pipeline.runs import RunFolder
from pipeline.training.logbook import Logbook
from pipeline.training.trainer import LoopConfig

Fetch = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


class GanTrainConfig(LoopConfig):
    """The ``train:`` section of GAN tasks (defaults: Radford et al. 2015, §4; Adam for both players)."""

    batch_size: int = default(LoopConfig, "batch_size", 64)
    lr: float = default(LoopConfig, "lr", 2e-4)
    betas: tuple[float, float] = default(LoopConfig, "betas", (0.5, 0.999))  # Radford et al.: beta1 0.9 oscillates
    max_steps: int = Field(2000, description="generator updates")
    checkpoint_every: int = default(LoopConfig, "checkpoint_every", 250)
    generator_cost: GeneratorCost = Field(
        "non_saturating", description="non_saturating, or minimax (saturates early in training)"
    )
    sample_every: int = Field(250, description="steps between fixed-seed sample grids (samples/step_NNNNNN.png)")
    sample_count: int = Field(64, description="images in each fixed-seed sample grid")


@dataclass
class GanState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


class GanPlayers(nn.Module):
    """Both players in one module, so one state dict holds ``generator.*`` and ``discriminator.*``."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator


def gan_step(
    players: GanPlayers,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    condition: torch.Tensor | None,
    z: torch.Tensor,
    cost: GeneratorCost,
) -> dict[str, float]:
    """One discriminator update, then one generator update, on the same batch and z."""
    G, D = players.generator, players.discriminator
    fake = G(z, condition)
    real_logits, fake_logits = D(real, condition), D(fake.detach(), condition)
    if condition is None:
        d_loss = discriminator_loss(real_logits, fake_logits)
    else:  # GAN-CLS: real images paired with another item's text are "fake" too
        mismatch = D(real, condition.roll(1, dims=0))
        d_loss = matching_aware_discriminator_loss(real_logits, mismatch, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    g_loss = generator_loss(D(fake, condition), cost)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    g_grad = torch.sqrt(sum(p.grad.pow(2).sum() for p in G.parameters() if p.grad is not None))
    opt_g.step()
    return {
        "d_loss": d_loss.item(),
        "g_loss": g_loss.item(),
        "d_real": real_logits.detach().sigmoid().mean().item(),
        "d_fake": fake_logits.detach().sigmoid().mean().item(),
        "g_grad_norm": g_grad.item(),
    }


class GanTrainer:
    def __init__(
        self,
        cfg: GanTrainConfig,
        runtime: Runtime,
        players: GanPlayers,
        fetch: Fetch,
        n_items: int,
        run_dir: Path,
        meta: dict[str, Any],
        z_dim: int,
        fixed_condition: torch.Tensor | None = None,
        extra: dict[str, Any] | None = None,
    ):
        self.cfg, self.runtime, self.fetch, self.n_items = cfg, runtime, fetch, n_items
        self.players = players.to(runtime.device)
        self.run_dir, self.meta, self.z_dim = Path(run_dir), meta, z_dim
        self.extra = extra or {}  # e.g. the frozen text encoder a conditional generator needs at inference
        betas = cfg.betas
        self.opt_g = torch.optim.Adam(players.generator.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(players.discriminator.parameters(), lr=cfg.lr, betas=betas)
        self.logbook = Logbook(self.run_dir)
        self.state = GanState()
        fixed = torch.Generator().manual_seed(1234)  # same z for every grid of the run
        self.fixed_z = torch.randn(cfg.sample_count, z_dim, generator=fixed).to(runtime.device)
        self.fixed_condition = None if fixed_condition is None else fixed_condition.to(runtime.device)

    @property
    def last_path(self) -> Path:
        return RunFolder(self.run_dir).last

    def save(self) -> None:
        train = {
            "state": asdict(self.state),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": torch.get_rng_state(),
        }
        save_checkpoint(
            self.last_path,
            Checkpoint({**self.meta, "step": self.state.step}, self.players.state_dict(), train, self.extra),
        )

    def resume(self) -> bool:
        if not self.last_path.exists():
            return False
        ckpt = load_checkpoint(self.last_path)
        self.players.load_state_dict(ckpt.model)
        self.state = GanState(**ckpt.train["state"])
        self.opt_g.load_state_dict(ckpt.train["opt_g"])
        self.opt_d.load_state_dict(ckpt.train["opt_d"])
        torch.set_rng_state(ckpt.train["rng"])
        self.logbook.truncate_after(self.state.step)
        log(f"resumed from {self.last_path} at step {self.state.step}")
        return True

    def sample_grid(self) -> Path:
        G = self.players.generator
        G.eval()
        with torch.no_grad():
            images = G(self.fixed_z, self.fixed_condition)
        G.train()
        return save_grid(to_unit(images), self.run_dir / "samples" / f"step_{self.state.step:06d}.png")

    def fit(self, resume: bool = True) -> GanState:
        if not (resume and self.resume()):
            torch.manual_seed(self.cfg.seed)
            self.logbook.reset()
            self.sample_grid()  # step 0: the untrained generator, for comparison
        cfg, state, started = self.cfg, self.state, time.perf_counter()
        per_epoch = self.n_items // cfg.batch_size  # drop the ragged last batch (batch norm)
        while state.step < cfg.max_steps:
            order = torch.randperm(self.n_items, generator=torch.Generator().manual_seed(cfg.seed * 1000 + state.epoch))
            while state.batch_in_epoch < per_epoch and state.step < cfg.max_steps:
                idx = order[state.batch_in_epoch * cfg.batch_size : (state.batch_in_epoch + 1) * cfg.batch_size]
                self._step(idx, started)
            if state.batch_in_epoch >= per_epoch:
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        self.save()
        self.sample_grid()
        return state

    def _step(self, idx: torch.Tensor, started: float) -> None:
        cfg, state, device = self.cfg, self.state, self.runtime.device
        real, condition = self.fetch(idx)
        real = real.to(device)
        condition = None if condition is None else condition.to(device)
        z = torch.randn(len(idx), self.z_dim, device=device)
        row = gan_step(self.players, self.opt_g, self.opt_d, real, condition, z, cfg.generator_cost)
        state.step += 1
        state.batch_in_epoch += 1
        if state.step % cfg.log_every == 0:
            self.logbook.write("train", state.step, epoch=state.epoch, **row)
            log(
                f"step {state.step} epoch {state.epoch} d_loss {row['d_loss']:.3f} g_loss {row['g_loss']:.3f} "
                f"D(x) {row['d_real']:.2f} D(G(z)) {row['d_fake']:.2f} |∇G| {row['g_grad_norm']:.3g} "
                f"({time.perf_counter() - started:.0f}s)"
            )
        if state.step % cfg.sample_every == 0:
            self.sample_grid()
        if state.step % cfg.checkpoint_every == 0:
            self.save()
