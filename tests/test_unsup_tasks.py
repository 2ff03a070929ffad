"""The unsupervised tasks and verbs end to end on tiny data: train → evaluate → build-index → retrieve →
figures, through the CLI, with a synthetic CIFAR-10 in the python-pickle layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from tests.synthetic import cifar_pickles

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture
def cifar_root(tmp_path) -> Path:
    return cifar_pickles(tmp_path / "cifar10")


@pytest.mark.slow
def test_codes_train_evaluate_index_retrieve(tmp_path, cifar_root, capsys):
    run = tmp_path / "codes"
    overrides = [
        f"run.dir={run}",
        f"run.stages={tmp_path / 'stages'}",
        f"data.root={cifar_root}",
        "data.valid_size=20",
        "train.batch_size=20",
        "model.code_size=16",
        "model.hidden=[32]",
        "train.max_epochs=2",
        "train.device=cpu",
        "retrieval.queries=10",
        "retrieval.map_k=20",
        "retrieval.precision_k=[5,10]",
    ]
    assert main(["train", str(CONF / "codes_cifar10.yaml"), *overrides]) == 0
    ckpt = run / "checkpoints" / "best.pt"
    assert main(["evaluate", "--checkpoint", str(ckpt)]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert report["test_mse"] > 0 and report["pca_test_mse"] > 0
    retrieval = report["retrieval"]
    assert retrieval["codes"]["bits"] == 16 and retrieval["protocol"]["database"] == 130
    for ranking in ("codes", "pixels"):
        assert set(retrieval[ranking]) >= {"map@20", "p@5", "p@10", "ms_per_query"}
        assert 0 <= retrieval[ranking]["map@20"] <= 1
    assert retrieval["pixels"]["map@20"] > 0.5  # class-coloured images: pixel neighbours share the class

    assert main(["build-index", "--checkpoint", str(ckpt)]) == 0
    index = run / "index.npz"
    with np.load(index) as data:
        assert data["codes"].shape == (140, 2) and data["codes"].dtype == np.uint8
    query = tmp_path / "query.png"
    Image.fromarray(np.full((64, 48, 3), 200, dtype=np.uint8)).save(query)  # any size is resized
    capsys.readouterr()
    assert (
        main(["retrieve", str(query), "--index", str(index), "--top-k", "3", "--out", str(tmp_path / "hits.png")]) == 0
    )
    out = capsys.readouterr().out
    assert out.count("train") + out.count("test") >= 3 and (tmp_path / "hits.png").is_file()


def test_retrieve_rejects_bad_input(tmp_path, capsys):
    assert main(["retrieve", str(tmp_path / "nope.jpg"), "--index", str(tmp_path / "none.npz")]) == 2
    assert "index not found" in capsys.readouterr().err


@pytest.mark.slow
def test_rbm_and_dbn_quick(tmp_path):
    stages = f"run.stages={tmp_path / 'stages'}"
    assert (
        main(
            [
                "train",
                str(CONF / "rbm_digits.yaml"),
                "--preset",
                "quick",
                f"run.dir={tmp_path / 'rbm'}",
                stages,
                "logistic.raw_baseline=false",
                "logistic.C=1.0",
                "logistic.max_iter=300",
            ]
        )
        == 0
    )
    assert main(["evaluate", "--checkpoint", str(tmp_path / "rbm" / "checkpoints" / "best.pt")]) == 0
    report = json.loads((tmp_path / "rbm" / "evaluation.json").read_text())
    assert report["rbm_features_accuracy"] > 0.5  # well above chance even after 2 epochs
    events = [json.loads(line) for line in (tmp_path / "rbm" / "metrics.jsonl").read_text().splitlines()]
    assert any("pseudo_log_likelihood" in e for e in events)

    for init in ("dbn", "random"):
        run = tmp_path / f"dbn_{init}"
        assert (
            main(
                [
                    "train",
                    str(CONF / "dbn_mnist.yaml"),
                    "--preset",
                    "quick",
                    f"run.dir={run}",
                    stages,
                    f"pretrain.init={init}",
                    "data.train_limit=1000",
                    "data.valid_size=200",
                    "train.device=cpu",
                ]
            )
            == 0
        )
        assert main(["evaluate", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--limit", "200"]) == 0
        assert json.loads((run / "evaluation.json").read_text())["test_mse"] < 0.2


def test_dbn_config_requires_logistic_units(capsys):
    assert main(["train", str(CONF / "dbn_mnist.yaml"), "model.activation=relu"]) == 2
    assert "sigmoid" in capsys.readouterr().err


def test_holdout_and_train_limit_mix_classes_of_a_class_sorted_dataset(monkeypatch):
    """CIFAR-10's ImageFolder copy is stored class by class: a hold-out taken from the end would be all
    trucks, and a train_limit taken from the front all airplanes."""
    from pipeline.data import image_tensors
    from pipeline.data.image_tensors import HeldOutImageDataConfig, load_splits

    labels = np.repeat(np.arange(10), 50)  # 500 images, sorted by class
    images = np.repeat(labels[:, None, None, None] * 25, 32 * 32 * 3, axis=1).reshape(500, 32, 32, 3)
    monkeypatch.setattr(
        image_tensors,
        "load_cifar10",
        lambda split, root=None, stages_dir=None: (images.astype(np.uint8), labels.tolist()),
    )
    classes = lambda x: set((x[:, 0, 0, 0] * 255 / 25).round().int().tolist())  # noqa: E731
    splits = load_splits(HeldOutImageDataConfig(dataset="cifar10", valid_size=100), "unused")
    assert len(splits.valid) == 100 and len(splits.train) == 400
    assert classes(splits.valid) == set(range(10)) and classes(splits.train) == set(range(10))
    limited, limited_labels = image_tensors.load_images("cifar10", "train", limit=100)
    assert len(limited) == 100 and len(set(limited_labels.tolist())) == 10
    again, _ = image_tensors.load_images("cifar10", "train", limit=100)
    assert bool((again == limited).all())  # seeded: the same subset every time
