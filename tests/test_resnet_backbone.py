"""``model.encoder.backbone: resnet18`` with ``model.encoder.weights``: a state dict in torchvision's
ResNet-18 layout loads whole, and every mismatch is a clear error, never a partial load.

torchvision itself cannot be imported here (its only torch-2.13 wheel is built for CUDA), so the file is
made the way torchvision's would look: every tensor of the layout, with random values, plus the
classifier ``fc`` (1000 ImageNet classes), which the captioner ignores. The layout's names and count
(120 tensors besides ``fc``, e.g. ``layer2.0.downsample.1.running_var``) are torchvision's."""

from __future__ import annotations

import pytest
import torch

from pipeline.errors import PipelineError
from pipeline.models.captioner import CaptionModelConfig, build_caption_model
from pipeline.models.torchvision_backbone import ResNet18Grid


def config(weights=None, backbone="resnet18") -> CaptionModelConfig:
    return CaptionModelConfig.model_validate(
        {"encoder": {"backbone": backbone, "weights": weights and str(weights)},
         "decoder": {"embedding_size": 16, "hidden_size": 32, "attention_size": 16}}
    )  # fmt: skip


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    gen = torch.Generator().manual_seed(3)
    layout = {k: v for k, v in ResNet18Grid((0.5,) * 3, (0.25,) * 3).state_dict().items() if k not in ("mean", "std")}
    state = {k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v for k, v in layout.items()}
    state.update({"fc.weight": torch.rand(1000, 512, generator=gen), "fc.bias": torch.rand(1000, generator=gen)})
    path = tmp_path_factory.mktemp("weights") / "my_resnet18.pth"
    torch.save(state, path)
    return path, state


def test_the_layout_has_torchvision_resnet18_names():
    names = [k for k in ResNet18Grid((0.5,) * 3, (0.25,) * 3).state_dict() if k not in ("mean", "std")]
    assert len(names) == 120 and names[:2] == ["conv1.weight", "bn1.weight"]
    for name in ("layer1.1.bn2.num_batches_tracked", "layer2.0.downsample.0.weight", "layer4.1.conv2.weight"):
        assert name in names, name
    assert not any(n.startswith("layer1.0.downsample") for n in names)  # 64 → 64 at stride 1: no projection


def test_a_torchvision_state_dict_loads_into_the_captioner(resnet_file):
    path, state = resnet_file
    model = build_caption_model(config(path), vocab_size=30)
    backbone = model.encoder.backbone
    for name in ("conv1.weight", "layer4.1.bn2.running_var", "layer3.0.downsample.0.weight"):
        assert torch.equal(backbone.state_dict()[name], state[name]), name
    assert torch.allclose(backbone.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))  # ImageNet's statistics
    memory = model.encode(images=torch.rand(2, 3, 96, 96)).memory
    assert memory.shape == (2, 9, 512)  # a 3x3 grid of layer4 features at 96 px


def test_without_weights_the_layout_trains_from_random_init_with_the_data_statistics():
    model = build_caption_model(config(None), vocab_size=30, mean=(0.4, 0.4, 0.4), std=(0.2, 0.2, 0.2))
    assert torch.allclose(model.encoder.backbone.mean.flatten(), torch.tensor([0.4, 0.4, 0.4]))


def test_mismatched_keys_shapes_and_files_are_clear_errors(resnet_file, tmp_path):
    path, state = resnet_file
    missing = {k: v for k, v in state.items() if not k.startswith("layer4")}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(PipelineError, match=r"not a torchvision resnet18 state dict \(missing \['layer4"):
        build_caption_model(config(tmp_path / "missing.pth"), vocab_size=30)
    shaped = {**state, "conv1.weight": torch.zeros(64, 3, 3, 3)}
    torch.save(shaped, tmp_path / "shaped.pth")
    with pytest.raises(PipelineError, match=r"other shapes: conv1.weight \(64, 3, 3, 3\) vs \(64, 3, 7, 7\)"):
        build_caption_model(config(tmp_path / "shaped.pth"), vocab_size=30)
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(PipelineError, match="not a state dict of tensors"):
        build_caption_model(config(tmp_path / "tensor.pth"), vocab_size=30)
    with pytest.raises(PipelineError, match="does not exist"):
        build_caption_model(config(tmp_path / "nope.pth"), vocab_size=30)
    with pytest.raises(PipelineError, match="set model.encoder.backbone=resnet18"):
        build_caption_model(config(path, backbone="compact"), vocab_size=30)


def test_a_file_named_like_the_official_weights_must_have_their_sha256(resnet_file, tmp_path):
    _, state = resnet_file
    fake = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, fake)
    with pytest.raises(PipelineError, match="not torchvision's published f37072fd47e8"):
        build_caption_model(config(fake), vocab_size=30)


def test_the_checkpoint_records_the_weights_and_rebuilds_without_the_file(resnet_file, tmp_path):
    from pipeline.tasks.captioning import encoder_source

    path, _ = resnet_file
    source = encoder_source(config(path).encoder)
    assert source["kind"] == "torchvision" and source["path"] == str(path) and len(source["sha256"]) == 64
    assert encoder_source(config(None, backbone="compact").encoder) == {"kind": "random initialisation"}
    trained = build_caption_model(config(path), vocab_size=30)
    gone = config(tmp_path / "moved_away.pth")  # a checkpoint's model is rebuilt, then its own weights loaded
    rebuilt = build_caption_model(gone, vocab_size=30, load_init=False)
    rebuilt.load_state_dict(trained.state_dict())
