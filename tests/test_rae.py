"""Recursive autoencoder: greedy trees equal a brute-force reference, trees are well formed, training
lowers the reconstruction loss; the retrieval mAP equals scikit-learn's; the task-2 reader reads the shared copy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.unsupervised.rae import RAEConfig, RecursiveAutoencoder, SentenceBatches, collate_sentences


def _model(cfg: RAEConfig | None = None, vocab: int = 30, size: int = 8, seed: int = 0) -> RecursiveAutoencoder:
    torch.manual_seed(seed)
    vectors = torch.randn(vocab + 1, size, dtype=torch.float64)
    vectors[0] = 0
    return RecursiveAutoencoder(cfg or RAEConfig(), vectors).double()


def _brute_force_merges(model: RecursiveAutoencoder, ids: list[int]) -> list[tuple[int, int]]:
    """Every step: score every adjacent pair of current nodes from scratch, merge the lowest (leftmost on ties)."""
    if not ids:
        return []
    leaves = model.leaves(torch.tensor([ids]))[0]
    nodes = [(leaves[i], 1.0, i) for i in range(len(ids))]  # (vector, leaves under it, node id)
    merges = []
    while len(nodes) > 1:
        scored = []
        for (c1, n1, _), (c2, n2, _) in zip(nodes[:-1], nodes[1:]):
            scored.append(
                model.merge(c1, c2, torch.tensor(n1, dtype=torch.float64), torch.tensor(n2, dtype=torch.float64))
            )
        j = int(np.argmin([float(error) for _, error in scored]))
        merges.append((nodes[j][2], nodes[j + 1][2]))
        nodes[j : j + 2] = [(scored[j][0], nodes[j][1] + nodes[j + 1][1], len(ids) + len(merges) - 1)]
    return merges


@pytest.mark.parametrize("cfg", [RAEConfig(), RAEConfig(normalize_leaves=True, weighted=False)])
@torch.no_grad()
def test_greedy_merges_equal_brute_force(cfg):
    model = _model(cfg)
    rng = np.random.default_rng(0)
    sentences = [rng.integers(1, 31, size=n) for n in (9, 1, 2, 5, 12, 0, 3, 7)]
    batch = collate_sentences(sentences)
    trees = model(batch.words, batch.lengths)
    for b, ids in enumerate(sentences):
        assert trees.tree(b) == _brute_force_merges(model, ids.tolist())


def _unfolding_reference(model: RecursiveAutoencoder, trees, b: int, ids: list[int]) -> float:
    """Sentence ``b``'s unfolding error, one parent at a time, by recursion down its merges."""
    import torch.nn.functional as F

    if len(ids) < 2:
        return 0.0  # no parents
    n, merges, leaves = len(ids), trees.tree(b), model.leaves(torch.tensor([ids]))[0]

    def unfold(node: int, vector: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        if node < n:
            return [(node, vector)]
        rebuilt = model.decoder(vector).chunk(2, -1)
        out = []
        for child, guess in zip(merges[node - n], rebuilt, strict=True):
            out += unfold(child, F.normalize(guess, dim=-1) if child >= n else guess)
        return out

    total = 0.0
    for step in range(n - 1):
        words = unfold(n + step, trees.nodes[b, trees.max_len + step])
        assert sorted(i for i, _ in words) == sorted(set(i for i, _ in words))  # each word once
        total += float(np.mean([float(((leaves[i] - guess) ** 2).sum()) for i, guess in words]))
    return total


@torch.no_grad()
def test_unfolding_error_equals_a_recursive_reference():
    model = _model(RAEConfig(objective="unfolding"))
    rng = np.random.default_rng(2)
    sentences = [rng.integers(1, 31, size=n) for n in (6, 1, 2, 9, 0, 4)]
    batch = collate_sentences(sentences)
    trees = model(batch.words, batch.lengths)
    expected = sum(_unfolding_reference(model, trees, b, ids.tolist()) for b, ids in enumerate(sentences))
    assert float(model.unfolding_error(trees)) == pytest.approx(expected, rel=1e-10)
    # a parent over two words rebuilds exactly what the one-level error compares (the weighted error's
    # weights are 1/2 each there, the unfolding error's mean over two words the same)
    two = collate_sentences([np.array([3, 7])])
    pair = model(two.words, two.lengths)
    assert float(model.unfolding_error(pair)) == pytest.approx(float(pair.errors.sum()), rel=1e-10)


@torch.no_grad()
def test_tree_has_n_minus_one_merges_covering_every_leaf_once():
    model = _model()
    rng = np.random.default_rng(1)
    sentences = [rng.integers(1, 31, size=n) for n in (1, 2, 4, 8, 15, 16)]
    batch = collate_sentences(sentences)
    trees = model(batch.words, batch.lengths)
    for b, ids in enumerate(sentences):
        n, merges = len(ids), trees.tree(b)
        assert len(merges) == n - 1
        spans = {i: [i] for i in range(n)}
        for t, (left, right) in enumerate(merges):
            assert left in spans and right in spans  # each node is merged once, after it exists
            spans[n + t] = spans.pop(left) + spans.pop(right)
        assert list(spans.values()) == [list(range(n))]  # one root over every leaf, once, in order
        expected_root = trees.nodes[b, 0] if n == 1 else trees.nodes[b, trees.max_len + n - 2]
        assert torch.equal(trees.root()[b], expected_root)


def _toy_corpus(rng: np.random.Generator, count: int = 600) -> list[np.ndarray]:
    """Sentences from a tiny grammar: [det adj? noun] verb [det noun], word ids 1..20."""
    sentences = []
    for _ in range(count):
        subject = [rng.integers(1, 3), *([rng.integers(3, 7)] if rng.random() < 0.5 else []), rng.integers(7, 12)]
        sentences.append(np.array([*subject, rng.integers(12, 16), rng.integers(1, 3), rng.integers(16, 21)]))
    return sentences


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["standard", "unfolding"])
def test_training_halves_the_reconstruction_loss(tmp_path, objective):
    from pipeline.device import resolve_runtime
    from pipeline.training.trainer import LossOutput, TrainConfig, Trainer
    from pipeline.unsupervised.rae import reconstruction_loss

    sentences = _toy_corpus(np.random.default_rng(0))
    torch.manual_seed(0)
    model = RecursiveAutoencoder(RAEConfig(objective=objective), torch.randn(21, 16))
    batch = collate_sentences(sentences)
    with torch.no_grad():
        initial = float(reconstruction_loss(model, batch)[0])
    cfg = TrainConfig(lr=3e-3, max_epochs=15, log_every=1000, checkpoint_every=10_000, precision="fp32", device="cpu")
    trainer = Trainer(
        cfg,
        resolve_runtime("cpu", "fp32"),
        model,
        lambda m, b: LossOutput(*reconstruction_loss(m, b)),
        SentenceBatches(sentences, 600, seed=0),
        None,
        tmp_path,
        {"task": "rae"},
        perplexity=False,
    )
    trainer.fit(resume=False)
    with torch.no_grad():
        final = float(reconstruction_loss(model.eval(), batch)[0])
    assert final <= 0.5 * initial, (initial, final)


def test_average_precision_equals_sklearn_with_ties():
    from sklearn.metrics import average_precision_score

    from pipeline.unsupervised.sentence_retrieval import average_precision

    rng = np.random.default_rng(0)
    scores = np.round(rng.random((6, 40)), 1)  # one decimal: many tied scores
    relevant = rng.random((6, 40)) < 0.2
    relevant[:, 0] = True
    expected = [average_precision_score(relevant[q], scores[q]) for q in range(6)]
    np.testing.assert_allclose(average_precision(scores, relevant), expected, rtol=1e-12)


def test_retrieval_map_equals_sklearn_per_query_and_recall_counts_hits():
    from sklearn.metrics import average_precision_score

    from pipeline.unsupervised.sentence_retrieval import retrieval_scores

    rng = np.random.default_rng(1)
    images = np.repeat(np.arange(8), 5)  # 8 images × 5 captions
    vectors = rng.normal(size=(8, 6))[images] + 1.5 * rng.normal(size=(40, 6))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    others = ~np.eye(40, dtype=bool)
    aps, hits = [], []
    for q in range(40):
        rel = images[others[q]] == images[q]
        aps.append(average_precision_score(rel, cosine[q, others[q]]))
        hits.append(rel[np.argmax(cosine[q, others[q]])])
    scores = retrieval_scores(vectors, images, ks=(1, 39))
    assert scores["map"] == pytest.approx(np.mean(aps), rel=1e-12)
    assert scores["r@1"] == pytest.approx(np.mean(hits))  # no ties among random cosines
    assert scores["r@39"] == 1.0


def test_task2_reader_reads_the_shared_copy(datasets_root):
    from pipeline.data.multi30k_captions import flat_captions, read_captions

    val = read_captions("val", "en")
    assert len(val) == 1014 and all(len(captions) == 5 for captions in val)
    assert val[0][0] == "A group of people stand in the back of a truck filled with cotton."
    assert val[0][1] == "Men are standing on and about a truck carrying a white substance."
    texts, images = flat_captions("test_2016", "en")
    assert len(texts) == 5000 and images[:6] == [0, 0, 0, 0, 0, 1]


def test_task2_reader_rejects_unknown_split():
    from pipeline.data.multi30k_captions import caption_path
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="splits: train, val, test_2016"):
        caption_path("test_2017", 1, "en")


def test_checkpoint_rebuilds_the_same_model(tmp_path):
    from pipeline.checkpoint import Checkpoint, save_checkpoint
    from pipeline.unsupervised.rae_run import RAETaskConfig, TrainedRAE

    torch.manual_seed(0)
    model = RecursiveAutoencoder(RAEConfig(), torch.randn(21, 8))
    vocab = [f"w{i}" for i in range(20)]
    save_checkpoint(
        tmp_path / "best.pt",
        Checkpoint({"task": "rae", "config": RAETaskConfig().to_dict(), "vocab": vocab}, model.state_dict()),
    )
    trained = TrainedRAE.from_checkpoint(tmp_path / "best.pt")
    loaded, table = trained.model, trained.vectors
    batch = collate_sentences(_toy_corpus(np.random.default_rng(2), 20))
    with torch.no_grad():
        expected, got = model(batch.words, batch.lengths), loaded(batch.words, batch.lengths)
    assert torch.equal(expected.children, got.children) and torch.allclose(expected.root(), got.root())
    assert table.vocab == vocab and table.ids(["w3", "unknown", "w0"]).tolist() == [4, 1]
