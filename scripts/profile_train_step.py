"""Profile translation training steps: where one update's time goes (Python vs kernels, and which kernels).

    python scripts/profile_train_step.py [--peer] [--threads 2] [--steps 30] [--compile] [key=value ...]

``--peer`` uses the peer benchmark's architecture (JoeyNMT's attentive LSTM with input feeding). Prints
the wall time per update, the torch profiler's table of operators by self CPU time, and the share of
the update spent outside any operator (Python and dispatch).

``--compile`` instead times the same updates eagerly and with the input-feeding decoder's per-position
step (``Decoder._feed_step``: gate product, LSTM cell, attention) under ``torch.compile(dynamic=True)``,
alternating eager, compiled, eager, compiled from the same initial weights, and prints the losses of
updates 1, 2 and the last so the runs can be compared (``nn.LSTM`` itself graph-breaks under Dynamo;
this step is written with plain ops, so it compiles).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from pipeline.data.batching import TokenBucketBatches
    from pipeline.data.translation_stages import prepare_translation
    from pipeline.models.seq2seq import build_translation_model
    from pipeline.tasks import load_task_config
    from scripts.peer.pipeline_side import ARCHITECTURE

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rows", type=int, default=25, help="profiler table rows")
    p.add_argument("--compile", action="store_true", help="time eager against a compiled decoder step")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    overrides = [*(ARCHITECTURE if args.peer else ()), *args.overrides]
    _, cfg = load_task_config("conf/translate_en_de.yaml", None, overrides)
    data = prepare_translation(cfg.data, cfg.run.stages)
    split = data.split("train")
    batches = TokenBucketBatches(split.src, split.tgt, cfg.train.batch_size, 1).epoch(0)
    batches = [batches[i] for i in range(5 + args.steps)]

    def fresh_model(compiled: bool):
        torch.manual_seed(1)
        model = build_translation_model(cfg.model, len(data.src_model), len(data.tgt_model))
        if compiled:
            model.decoder._feed_step = torch.compile(model.decoder._feed_step, dynamic=True)
        model.train()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    if not args.compile:
        profile(*fresh_model(False), batches, args.rows)
        return
    if not cfg.model.decoder.input_feeding or cfg.model.decoder.num_layers != 1:
        p.error("--compile needs the one-layer input-feeding decoder (e.g. --peer)")
    for compiled in (False, True, False, True):
        time_updates(*fresh_model(compiled), batches, "compiled" if compiled else "eager")


def update(model, opt, batch, losses: list[float] | None = None) -> int:
    """One training update (label-smoothed loss, clipping at 1, Adam) → its target tokens. With ``losses``,
    dropout is seeded by the update's index and the loss is appended."""
    from pipeline.losses import label_smoothed_loss

    opt.zero_grad(set_to_none=True)
    if losses is not None:
        torch.manual_seed(len(losses))
    out = label_smoothed_loss(model, batch, 0.1)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if losses is not None:
        losses.append(float(out.loss.detach()))
    return out.n_tokens


def profile(model, opt, batches, rows: int) -> None:
    """Five warm-up updates, then the wall time, matrix-product FLOPs and operator table of the rest."""
    from torch.utils.flop_counter import FlopCounterMode

    for b in batches[:5]:
        update(model, opt, b)
    chosen = batches[5:]
    started = time.perf_counter()
    tokens = sum(update(model, opt, b) for b in chosen)
    wall = time.perf_counter() - started
    pairs = sum(b.src.size(0) for b in chosen)
    print(
        f"{len(chosen)} updates: {1000 * wall / len(chosen):.1f} ms/update, {tokens / wall:.0f} target tok/s, "
        f"{pairs / wall:.1f} pairs/s"
    )
    counter = FlopCounterMode(display=False)
    with counter:
        for b in chosen[:5]:
            update(model, opt, b)
    flops = counter.get_total_flops() / 5
    print(
        f"{flops / 1e9:.1f} GFLOP per update (matrix products, forward + backward): "
        f"{flops / (wall / len(chosen)) / 1e9:.1f} GFLOP/s achieved"
    )
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for b in chosen[:10]:
            update(model, opt, b)
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows))
    total = sum(e.self_cpu_time_total for e in events)
    print(f"profiled operator self time: {total / 1e3:.0f} ms over 10 updates")


def time_updates(model, opt, batches, name: str) -> None:
    """Five warm-up updates (timed apart: they include compiling), then the rest; dropout is seeded per
    update so that eager and compiled runs draw the same masks and their losses can be compared."""
    losses: list[float] = []
    started = time.perf_counter()
    for b in batches[:5]:
        update(model, opt, b, losses)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    tokens = sum(update(model, opt, b, losses) for b in batches[5:])
    wall = time.perf_counter() - started
    print(
        f"{name:8s} warm-up {warm:5.1f} s, {1000 * wall / (len(batches) - 5):.0f} ms/update, {tokens / wall:.0f} "
        f"target tok/s; losses of updates 1, 2, {len(losses)}: {losses[0]:.5f} {losses[1]:.5f} {losses[-1]:.5f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
