"""Profile translation training steps: where one update's time goes (Python vs kernels, and which kernels).

    python scripts/profile_train_step.py [--peer] [--threads 2] [--steps 30] [key=value ...]

``--peer`` uses the peer benchmark's architecture (JoeyNMT's attentive LSTM with input feeding). Prints
the wall time per update, the torch profiler's table of operators by self CPU time, and the share of
the update spent outside any operator (Python and dispatch).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from pipeline.data.batching import TokenBucketBatches
    from pipeline.data.translation_stages import prepare_translation
    from pipeline.losses import label_smoothed_loss
    from pipeline.models.seq2seq import build_translation_model
    from pipeline.tasks import load_task_config
    from scripts.peer.pipeline_side import ARCHITECTURE

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rows", type=int, default=25, help="profiler table rows")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*(ARCHITECTURE if args.peer else ()), *args.overrides]
    _, cfg = load_task_config("conf/translate_en_de.yaml", None, overrides)
    data = prepare_translation(cfg.data, cfg.run.stages)
    torch.manual_seed(1)
    model = build_translation_model(cfg.model, len(data.src_model), len(data.tgt_model))
    split = data.split("train")
    batches = TokenBucketBatches(split.src, split.tgt, cfg.train.batch_size, 1).epoch(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(batch):
        opt.zero_grad(set_to_none=True)
        out = label_smoothed_loss(model, batch, 0.1)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return out.n_tokens

    batches = [batches[i] for i in range(5 + args.steps)]
    for b in batches[:5]:  # warm-up
        step(b)
    chosen = batches[5 : 5 + args.steps]
    started, tokens = time.perf_counter(), 0
    for b in chosen:
        tokens += step(b)
    wall = time.perf_counter() - started
    pairs = sum(b.src.size(0) for b in chosen)
    print(
        f"{len(chosen)} updates: {1000 * wall / len(chosen):.1f} ms/update, {tokens / wall:.0f} target tok/s, "
        f"{pairs / wall:.1f} pairs/s"
    )
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        for b in chosen[:5]:
            step(b)
    flops = counter.get_total_flops() / 5
    print(
        f"{flops / 1e9:.1f} GFLOP per update (matrix products, forward + backward): "
        f"{flops / (wall / len(chosen)) / 1e9:.1f} GFLOP/s achieved"
    )
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for b in chosen[:10]:
            step(b)
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    total = sum(e.self_cpu_time_total for e in events)
    print(f"profiled operator self time: {total / 1e3:.0f} ms over 10 updates")


if __name__ == "__main__":
    main()
