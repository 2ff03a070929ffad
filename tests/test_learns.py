"""End to end on a synthetic task: the encoder, attention, decoder, trainer and search learn together."""

import pytest

from pipeline.data.batching import inference_batches
from pipeline.device import resolve_runtime
from pipeline.losses import label_smoothed_loss
from pipeline.models.decoder import DecoderConfig
from pipeline.models.encoder import EncoderConfig
from pipeline.models.seq2seq import TranslationModelConfig, build_translation_model
from pipeline.search import greedy_search
from pipeline.training.trainer import TrainConfig, Trainer
from tests.synthetic import reverse_batches, reverse_task


@pytest.mark.slow
def test_reverse_task_reaches_90_percent_exact_match(tmp_path):
    held_src, held_tgt = reverse_task(300, seed=123)

    def exact_match(model) -> dict[str, float]:
        hits = 0
        for batch in inference_batches(held_src, 100):
            enc = model.encode(src=batch.src, src_lengths=batch.src_lengths)
            found = greedy_search(model.decoder, enc, 2, 3, batch.src_lengths + 2).best_tokens()
            hits += sum(found[j] == held_tgt[i].tolist() for j, i in enumerate(batch.index.tolist()))
        return {"exact": hits / len(held_src)}

    model_cfg = TranslationModelConfig(
        encoder=EncoderConfig(embedding_size=32, hidden_size=64, num_layers=1, dropout=0.0),
        decoder=DecoderConfig(embedding_size=32, hidden_size=128, attention="luong_general", dropout=0.0),
    )
    model = build_translation_model(model_cfg, 14, 14)
    train_cfg = TrainConfig(
        lr=5e-3, max_epochs=12, log_every=100, checkpoint_every=10_000, warmup_steps=20, early_stopping_patience=100
    )
    trainer = Trainer(
        train_cfg,
        resolve_runtime("cpu", "fp32"),
        model,
        lambda m, b: label_smoothed_loss(m, b, 0.0),
        reverse_batches(n=3000, max_tokens=800),
        exact_match,
        tmp_path,
        {"task": "test"},
        score_name="exact",
    )
    state = trainer.fit()
    assert state.best_score >= 0.9, f"exact match only {state.best_score}"
