"""The GPU path's mixed precision, exercised on the CPU: bf16 autocast in training and in beam search.

A CUDA machine runs the same code with ``precision: auto`` (bf16, or fp16 with a grad scaler); here
``precision: bf16`` on the CPU takes the same autocast branch of the trainer and the search.
"""

import math

import torch

from pipeline.device import resolve_runtime
from pipeline.losses import label_smoothed_loss
from pipeline.search import beam_search
from pipeline.training.trainer import TrainConfig, Trainer
from tests.helpers import tiny_model
from tests.synthetic import reverse_batches

BOS, EOS = 2, 3


def test_bf16_autocast_trains_and_decodes(tmp_path):
    runtime = resolve_runtime("cpu", "bf16")
    assert runtime.amp_dtype is torch.bfloat16 and not runtime.needs_grad_scaler
    model = tiny_model(seed=0, src_vocab=14, tgt_vocab=14, hidden=64)
    seen: list[torch.dtype] = []  # the dtype of an intermediate: the attention's combine layer
    model.decoder.combine.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    losses: list[float] = []

    def loss_fn(m, batch):
        out = label_smoothed_loss(m, batch, 0.0)
        losses.append(float(out.loss))
        return out

    cfg = TrainConfig(seed=1, lr=1e-2, max_steps=60, log_every=20, checkpoint_every=60, max_epochs=50)
    Trainer(cfg, runtime, model, loss_fn, reverse_batches(n=300, max_tokens=150), None, tmp_path, {"task": "t"}).fit()
    assert seen and seen[0] is torch.bfloat16, seen[:1]  # autocast was on inside the loss
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10, (losses[:10], losses[-10:])

    model.eval()
    seen.clear()
    src = torch.tensor([[5, 6, 7, 8, 0], [9, 10, 11, 12, 13]])
    with torch.no_grad(), runtime.autocast():
        enc = model.encode(src=src, src_lengths=torch.tensor([4, 5]))
        result = beam_search(model.decoder, enc, BOS, EOS, beam_size=3, max_output_len=8)
    assert seen and set(seen) == {torch.bfloat16}  # every search step ran under autocast
    for hyps in result.hypotheses:
        assert hyps and all(4 <= t < 14 for t in hyps[0].tokens) and len(hyps[0].tokens) <= 8
        assert math.isfinite(hyps[0].score)
