"""iGAN projection and editing (Zhu et al. 2016) on a tiny generator whose output depends strongly on z."""

from __future__ import annotations

import pytest
import torch

from pipeline.checkpoint import Checkpoint, save_checkpoint
from pipeline.errors import PipelineError
from pipeline.gan.constraints import edge_map, parse_stroke, rasterise, rasterise_lines
from pipeline.gan.dcgan import DCGANGenerator
from pipeline.gan.editing import EditBudget, Editor
from pipeline.gan.encoder import TASK_NAME, LatentEncoder
from pipeline.gan.projection import ProjectionBudget, Projector, reconstruction_error, render

SHAPE = (1, 16, 16)


@pytest.fixture(scope="module")
def generator() -> DCGANGenerator:
    """Untrained, but with weights large enough that G(z) varies a lot with z (N(0, 0.02) makes grey images)."""
    torch.manual_seed(0)
    model = DCGANGenerator(z_dim=8, channels=1, image_size=16, width=8)
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.3)
    return model.eval()


def test_projecting_g_of_z_recovers_the_image(generator):
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        targets = render(generator, z)  # (6, 1, 16, 16)
        random_error = reconstruction_error(render(generator, torch.randn(6, 8)), targets)
    projector = Projector(generator, budget=ProjectionBudget(steps=120, restarts=3, lr=0.05, max_seconds=60))
    projection = projector.project(targets, "optimize")
    assert projection.image.shape == targets.shape and projection.steps == 120
    # stated bound: per-pixel MSE ≤ 2e-3 (≈ 4.5 % RMS of the pixel box), versus ≈ 0.1 for a random z
    assert float(projection.error.mean()) < 2e-3
    assert float(projection.error.mean()) < float(random_error.mean()) / 20
    assert torch.allclose(projection.error, reconstruction_error(projection.image, targets))


def test_projection_stops_at_the_time_bound(generator):
    targets = torch.rand(2, *SHAPE)
    projection = Projector(generator).project(
        targets, "optimize", ProjectionBudget(steps=100_000, restarts=1, max_seconds=0.3)
    )
    assert 0 < projection.steps < 100_000 and projection.seconds < 5.0


def test_encoder_and_hybrid_use_the_encoder(generator, tmp_path):
    encoder = LatentEncoder(8, SHAPE, width=8)
    path = tmp_path / "encoder.pt"
    save_checkpoint(path, Checkpoint({"task": TASK_NAME, "model": encoder.build_args()}, encoder.state_dict()))
    loaded, _ = LatentEncoder.from_checkpoint(path)
    targets = torch.rand(3, *SHAPE)
    assert torch.allclose(loaded(targets), encoder.eval()(targets))
    projector = Projector(generator, loaded, ProjectionBudget(steps=20, restarts=1))
    by_encoder, hybrid = projector.project(targets, "encoder"), projector.project(targets, "hybrid")
    assert by_encoder.steps == 0 and hybrid.steps == 20
    assert float(hybrid.error.mean()) <= float(by_encoder.error.mean())  # refining can only help: best z kept
    with pytest.raises(PipelineError, match="needs an encoder"):
        Projector(generator).project(targets, "hybrid")


def test_edit_reduces_the_masked_colour_loss_and_morphs(generator):
    editor = Editor(
        generator,
        projection_budget=ProjectionBudget(steps=30, restarts=1),
        edit_budget=EditBudget(steps=80, lr=0.05, prior_weight=0.01),
    )
    with torch.no_grad():
        image = render(generator, torch.randn(1, 8, generator=torch.Generator().manual_seed(3)))[0]
    projection = editor.project(image)
    result = editor.edit(projection, ["8,8,2,black"], frames=6)
    assert result.colour_error_after < result.colour_error_before / 2  # measured 0.56 → 0.21
    assert result.losses[-1]["colour"] < result.losses[0]["colour"]
    assert result.frames.shape == (6, *SHAPE)
    assert torch.allclose(result.frames[0], projection.image[0], atol=1e-5)  # first frame: the projection
    assert torch.allclose(result.frames[-1], result.final)  # last frame: the edit
    assert torch.allclose(result.final, render(generator, result.z[None])[0], atol=1e-5)


def test_sketch_edit_raises_edges_on_the_lines(generator):
    editor = Editor(generator, edit_budget=EditBudget(steps=60, prior_weight=0.01))
    image = torch.full(SHAPE, 0.5)
    sketch = torch.zeros(16, 16)
    sketch[4:12, 8] = 1.0  # a vertical line
    result = editor.edit(editor.project(image, budget=ProjectionBudget(steps=10, restarts=1)), [], sketch=sketch)
    lines = sketch.bool()
    before = edge_map(result.projection.image)[0, 0][lines].mean()
    after = edge_map(result.final[None])[0, 0][lines].mean()
    assert after > before and result.colour_error_after is None


def test_sketch_lines_are_rasterised_one_pixel_wide():
    sketch = rasterise_lines(["3,8,12,8", "5,2,5,2"], SHAPE)
    expected = torch.zeros(16, 16)
    expected[8, 3:13] = 1.0  # the horizontal segment, both end pixels included
    expected[2, 5] = 1.0  # a zero-length line is its one pixel
    assert torch.equal(sketch, expected)
    diagonal = rasterise_lines(["0,0,15,15"], SHAPE)
    assert torch.equal(diagonal, torch.eye(16))


@pytest.mark.parametrize(
    "spec, message",
    [("1,2,3", "expected x0,y0,x1,y1"), ("a,2,3,4", "must be numbers"), ("0,0,16,3", "outside the 16x16 image")],
)
def test_bad_sketch_lines_are_one_clear_line(spec, message):
    with pytest.raises(PipelineError, match=message):
        rasterise_lines([spec], SHAPE)


def test_a_sketch_from_lines_raises_edges_and_reports_its_error(generator):
    editor = Editor(generator, edit_budget=EditBudget(steps=60, prior_weight=0.01))
    sketch = rasterise_lines(["8,3,8,12"], SHAPE)
    projection = editor.project(torch.full(SHAPE, 0.5), budget=ProjectionBudget(steps=10, restarts=1))
    result = editor.edit(projection, [], sketch=sketch)
    assert result.edge_error_after < result.edge_error_before
    assert result.colour_error_before is None


@pytest.mark.parametrize(
    "spec, message",
    [
        ("1,2,3", "expected x,y,r,colour"),
        ("a,2,3,red", "must be numbers"),
        ("8,8,3,mauve", "bad colour"),
        ("8,8,3,1.5", "bad colour"),
        ("40,8,3,red", "outside the 16x16 image"),
        ("8,8,0.1,red", "radius"),
    ],
)
def test_bad_stroke_specs_are_one_clear_line(spec, message):
    with pytest.raises(PipelineError, match=message) as err:
        parse_stroke(spec, SHAPE)
    assert "\n" not in str(err.value)


def test_strokes_rasterise_to_discs_in_grey_and_colour():
    stroke = parse_stroke("5,6,2,#ff0000", (3, 16, 16))
    assert stroke.colour == (1.0, 0.0, 0.0)
    target, mask = rasterise([stroke], (3, 16, 16))
    assert int(mask.sum()) == 13  # pixel centres within radius 2 of (5, 6)
    assert bool(mask[0, 6, 5]) and not bool(mask[0, 6, 8]) and float(target[0, 6, 5]) == 1.0
    grey, _ = rasterise([parse_stroke("5,6,2,white", SHAPE)], SHAPE)
    assert float(grey[0, 6, 5]) == pytest.approx(1.0)


def test_bad_images_are_rejected(generator):
    editor = Editor(generator)
    with pytest.raises(PipelineError, match="resize it first"):
        editor.project(torch.rand(1, 28, 28))
    with pytest.raises(PipelineError, match=r"pixel box \[0, 1\]"):
        editor.project(torch.full(SHAPE, 2.0))
    with pytest.raises(PipelineError, match="at least one stroke"):
        editor.constraints([])


def test_encoder_training_lowers_the_reconstruction_error_and_round_trips(generator, tmp_path):
    from pipeline.gan.encoder import EncoderTrainConfig, train_encoder
    from pipeline.gan.models import build_players
    from pipeline.tasks.gan import GanConfig

    with torch.no_grad():
        images = render(generator, torch.randn(300, 8, generator=torch.Generator().manual_seed(4)))
    cfg = EncoderTrainConfig(width=8, batch_size=16, max_steps=60, validate_every=30, valid_size=50, lr=3e-3)
    torch.manual_seed(cfg.seed)
    untrained = LatentEncoder(8, SHAPE, width=8).eval()
    best = train_encoder(generator, "tiny-gan.pt", images, cfg, tmp_path / "encoder")
    encoder, meta = LatentEncoder.from_checkpoint(best)
    assert meta["task"] == TASK_NAME and meta["gan_checkpoint"] == "tiny-gan.pt"
    held_out = images[:50]
    with torch.no_grad():
        before = reconstruction_error(render(generator, untrained(held_out)), held_out).mean()
        after = reconstruction_error(render(generator, encoder(held_out)), held_out).mean()
    assert after < 0.8 * before
    gan_meta = {
        "task": "gan",
        "config": GanConfig().to_dict(),
        "step": 0,
        "model": {"architecture": "dcgan", "image_shape": list(SHAPE), "z_dim": 8, "width": 8, "hidden": 0},
    }
    _, discriminator = build_players(gan_meta["model"])
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    save_checkpoint(tmp_path / "gan.pt", Checkpoint(gan_meta, state))
    editor = Editor.from_checkpoint(tmp_path / "gan.pt", best)
    assert editor.default_method == "hybrid"
    assert torch.allclose(editor.project(held_out[:2], "encoder").z, encoder(held_out[:2]), atol=1e-5)
