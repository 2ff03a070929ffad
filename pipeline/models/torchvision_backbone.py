"""ResNet-18 in torchvision's layout as the captioner's CNN, for users who have its ImageNet weights.

No weights can be downloaded by the project (nothing is fetched at run time), but a user may hold
torchvision's ``resnet18-f37072fd.pth`` (He et al. 2016, trained on ImageNet) or any state dict saved
from ``torchvision.models.resnet18()``. ``model.encoder.backbone: resnet18`` builds that network (7x7
stem, max-pool, four stages of two basic blocks, 64-128-256-512 channels) without its pooling and
classifier, so the last stage's grid (512 channels, 1/32 of the input side) is the memory the decoder
attends over, as with Show, Attend and Tell's VGG grid. ``model.encoder.weights: PATH`` loads the file with
``torch.load(weights_only=True)``. Keys or shapes that do not match the layout are a clear error, never a
partial load; a file named like the official one must have its SHA-256.

The module is written here with torchvision's parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ...) rather than imported: the torchvision 0.28.0 wheel that matches torch
2.13 is built for CUDA and does not import against the CPU build of torch (its ``_C`` extension needs
``libtorch_cuda``), and the network is 40 lines.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from pipeline.errors import PipelineError

OFFICIAL_SHA256 = {  # torchvision's published ImageNet weights, by file name
    "resnet18-f37072fd.pth": "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HEAD = ("fc.weight", "fc.bias")  # the classifier, which the captioner does not use


class TorchvisionBasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3x3 conv-BN layers, a 1x1 conv-BN ``downsample`` when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18Grid(nn.Module):
    """images (B, 3, H, W) in [0, 1] → layer4's grid (B, 512, H/32, W/32), normalised inside."""

    out_channels = 512

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, channels = (64, 128, 256, 512), 64
        for i, width in enumerate(widths, start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(TorchvisionBasicBlock(channels, width, stride),
                                                     TorchvisionBasicBlock(width, width, 1)))  # fmt: skip
            channels = width
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_torchvision_weights(grid: ResNet18Grid, path: str | Path) -> str:
    """Load a torchvision ResNet-18 state dict into ``grid`` (its ``fc`` ignored); returns the file's SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"model.encoder.weights: {path} does not exist")
    digest = sha256(path)
    expected = OFFICIAL_SHA256.get(path.name)
    if expected and digest != expected:
        raise PipelineError(
            f"model.encoder.weights: {path.name} has SHA-256 {digest}, not torchvision's published {expected}; "
            "the file is damaged or not the official one (rename it if it is your own)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's error here
        raise PipelineError(f"model.encoder.weights: cannot read {path} as a state dict ({err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PipelineError(f"model.encoder.weights: {path} is not a state dict of tensors")
    state = {k: v for k, v in state.items() if k not in HEAD}
    own = {k: v for k, v in grid.state_dict().items() if k not in ("mean", "std")}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise PipelineError(
            f"model.encoder.weights: {path} is not a torchvision resnet18 state dict "
            f"(missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''})"
        )
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        raise PipelineError(f"model.encoder.weights: {path} has tensors of other shapes: {'; '.join(wrong[:3])}")
    grid.load_state_dict(state, strict=False)  # strict on what matters: every key but mean/std checked above
    return digest
