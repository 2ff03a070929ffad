"""PCA ↔ linear autoencoder, the autoencoder variants, binary codes and sparsity penalties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from pipeline.unsupervised.autoencoder import SparsityConfig, build_autoencoder
from pipeline.unsupervised.binary_codes import CodeLayer, pack_bits, to_bits
from pipeline.unsupervised.pca import PCA, LinearAutoencoder, principal_angles
from pipeline.unsupervised.sparsity import sparsity_penalty
from tests.helpers import autoencoder_config


def _low_rank_data(n=1000, dim=12, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    scales = np.array([5.0, 4.0, 3.0] + [0.3] * (dim - 3))  # a clear gap after 3 components
    return (rng.normal(size=(n, dim)) * scales) @ basis.T + rng.normal(size=dim)


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA as SklearnPCA

    x = _low_rank_data()
    ours, ref = PCA.fit(x, 3), SklearnPCA(3).fit(x)
    assert principal_angles(ours.components, ref.components_.T).max() < 1e-4  # float32 covariance products
    np.testing.assert_allclose(ours.explained_variance, ref.explained_variance_, rtol=1e-5)


@pytest.fixture
def one_thread():
    """Tiny full-batch loops are dominated by thread hand-offs on a busy machine; run them on one."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_linear_autoencoder_finds_the_pca_subspace(one_thread):
    x = _low_rank_data()
    pca = PCA.fit(x, 3)
    torch.manual_seed(0)
    data = torch.tensor(x, dtype=torch.float32)
    model = LinearAutoencoder(12, 3, mean=data.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(500):  # full-batch gradient descent on ‖x − VVᵀx‖²
        loss = ((model(data).reconstruction - data) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    angles = principal_angles(model.weight.detach().double().numpy(), pca.components)
    assert angles.max() < 0.02  # radians
    with torch.no_grad():
        ae_mse = float(((model(data).reconstruction - data) ** 2).mean())
    assert ae_mse == pytest.approx(pca.reconstruction_mse(x), rel=0.01)


@pytest.mark.parametrize(
    "kind,shape",
    [
        ("deep", (1, 28, 28)),
        ("conv", (1, 28, 28)),
        ("conv", (3, 32, 32)),
        ("linear", (3, 32, 32)),
        ("resnet", (3, 32, 32)),
    ],
)
def test_autoencoder_shapes(kind, shape):
    model = build_autoencoder(autoencoder_config(kind=kind, code_size=16, hidden=[32], channels=[8, 16]), shape)
    x = torch.rand(5, *shape)
    with torch.no_grad():
        out = model(x)
    assert out.reconstruction.shape == x.shape and out.code.shape == (5, 16)
    if kind != "linear":
        assert 0 <= float(out.reconstruction.min()) and float(out.reconstruction.max()) <= 1


@pytest.mark.parametrize("kind", ["deep", "conv"])
@pytest.mark.parametrize("bits", [32, 256])
def test_binary_codes_are_exact_bits(kind, bits):
    cfg = autoencoder_config(kind=kind, code_size=bits, hidden=[64], channels=[8, 16], code="binary", noise_std=4.0)
    model = build_autoencoder(cfg, (3, 32, 32)).eval()
    x = torch.rand(6, 3, 32, 32)
    code = model(x).code
    assert code.shape == (6, bits) and set(code.unique().tolist()) <= {0.0, 1.0}
    packed = pack_bits(to_bits(model.encode_pre(x)).numpy())
    assert packed.shape == (6, bits // 8) and packed.dtype == np.uint8
    np.testing.assert_array_equal(np.unpackbits(packed, axis=1), code.numpy().astype(np.uint8))


def test_binary_code_layer_is_noisy_logistic_in_training():
    layer = CodeLayer("binary", noise_std=4.0).train()
    pre = torch.zeros(2000, 8)
    out = layer(pre)
    assert 0 < float(out.min()) and float(out.max()) < 1 and float(out.std()) > 0.3  # noise saturates units


def test_sparsity_penalties():
    code = torch.tensor([[0.0, 0.5], [1.0, -0.5]])
    assert float(sparsity_penalty(code, "l1")) == pytest.approx(1.0)  # (0.5 + 1.5) / 2
    rho = torch.full((10, 4), 0.05)
    assert float(sparsity_penalty(rho, "kl", target=0.05)) == pytest.approx(0.0, abs=1e-6)
    dense = torch.full((10, 4), 0.5)
    expected = 4 * (0.05 * np.log(0.05 / 0.5) + 0.95 * np.log(0.95 / 0.5))
    assert float(sparsity_penalty(dense, "kl", target=0.05)) == pytest.approx(expected, rel=1e-5)


def test_kl_sparsity_needs_logistic_codes():
    assert autoencoder_config(code="sigmoid", sparsity=SparsityConfig(kind="kl", weight=0.1)).sparsity.kind == "kl"
    with pytest.raises(ValidationError, match="logistic code units"):
        autoencoder_config(code="linear", sparsity=SparsityConfig(kind="kl", weight=0.1))


def test_pca_few_examples_uses_the_same_subspace():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 50)) * np.linspace(3, 0.1, 50)
    thin = PCA.fit(x, 5)  # n < D: SVD path
    cov = np.cov(x.T)
    values, vectors = np.linalg.eigh(cov)
    assert principal_angles(thin.components, vectors[:, ::-1][:, :5]).max() < 1e-6
    np.testing.assert_allclose(thin.explained_variance, values[::-1][:5], rtol=1e-8)


def test_resnet_autoencoder_initialises_the_captioning_cnn(tmp_path):
    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from pipeline.models.image_encoder import CompactResNet, ImageEncoderConfig, load_encoder_weights

    model = build_autoencoder(autoencoder_config(kind="resnet", code_size=8, channels=[8, 16]), (3, 32, 32))
    save_checkpoint(tmp_path / "ae.pt", Checkpoint({"task": "autoencoder"}, model.state_dict()))
    backbone = CompactResNet(ImageEncoderConfig(widths=(8, 16), blocks=(1, 1), stem_stride=1, stem_pool=False))
    copied = load_encoder_weights(backbone, str(tmp_path / "ae.pt"))
    assert "stem.0.weight" in copied
    for name in copied:
        assert torch.equal(backbone.state_dict()[name], model.state_dict()[f"encoder.{name}"])


def test_code_activity_reports_how_sparse_the_code_is():
    from pipeline.unsupervised.evaluation import code_activity

    torch.manual_seed(0)
    cfg = autoencoder_config(
        kind="deep",
        code_size=8,
        hidden=[16],
        code="sigmoid",
        sparsity=SparsityConfig(kind="kl", weight=1.0, target=0.1),
    )
    model = build_autoencoder(cfg, (1, 28, 28))
    images = torch.rand(50, 1, 28, 28)
    act = code_activity(model, images, torch.device("cpu"), batch_size=20)
    codes = model.eval()(images).code.detach()
    assert act["mean_activation"] == pytest.approx(float(codes.mean()), rel=1e-5)
    assert act["share_below_0.05"] == pytest.approx(float((codes.abs() < 0.05).float().mean()))
    assert 0.0 < act["mean_activation"] < 1.0


@pytest.mark.parametrize("kind", ["deep", "conv", "resnet"])
@pytest.mark.parametrize("shortcut", ["pca", "pca_fixed"])
def test_pca_shortcut_starts_at_pca_and_fixed_keeps_it(kind, shortcut):
    rng = np.random.default_rng(0)
    x = rng.random((200, 3 * 8 * 8)).astype(np.float32) * rng.random(3 * 8 * 8).astype(np.float32)
    pca = PCA.fit(x, 6)
    cfg = autoencoder_config(kind=kind, code_size=6, hidden=[16], channels=[4, 8], output="linear", shortcut=shortcut)
    model = build_autoencoder(cfg, (3, 8, 8))
    model.init_from_pca(torch.from_numpy(pca.mean).float(), torch.from_numpy(pca.components).float())
    images = torch.from_numpy(x).view(-1, 3, 8, 8)
    with torch.no_grad():
        start = float(((model(images).reconstruction - images) ** 2).mean())
    assert start == pytest.approx(pca.reconstruction_mse(x), rel=1e-4)  # exactly PCA before any training
    trainable = {name for name, _ in model.named_parameters()}
    assert ("encode_linear" in trainable) == (shortcut == "pca")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(30):
        optimizer.zero_grad()
        ((model(images).reconstruction - images) ** 2).sum(dim=(1, 2, 3)).mean().backward()
        optimizer.step()
    with torch.no_grad():
        after = float(((model(images).reconstruction - images) ** 2).mean())
    assert after < start  # the nonlinear paths (zero at the start) learn a correction
    if shortcut == "pca_fixed":
        assert torch.equal(model.encode_linear, torch.from_numpy(pca.components).float())


def test_pca_shortcut_needs_linear_codes_and_output():
    with pytest.raises(ValidationError, match="shortcut"):
        autoencoder_config(kind="deep", shortcut="pca")  # sigmoid output by default
    with pytest.raises(ValidationError, match="shortcut"):
        autoencoder_config(kind="deep", shortcut="pca_fixed", output="linear", code="binary")
