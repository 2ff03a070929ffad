"""``pipeline train --workers 2``: data-parallel training on Ray Train takes the single-process steps.

Two Ray Train workers (gloo) each take half the rows of every global batch. With dropout off, their
summed, token-weighted gradients are the whole batch's, so the weights after N steps must equal a
single process's after N steps up to float reduction order; a second call resumes from the run's
checkpoint and continues to the same weights as an uninterrupted single-process run, a later one from a
newer ``last.pt`` left by a single-process run, and ``--restart`` starts over.
"""

from __future__ import annotations

import json

import pytest
import torch

from pipeline.checkpoint import load_checkpoint
from pipeline.errors import PipelineError
from pipeline.tasks import TrainOptions, load_task_config
from tests.serving_fixtures import REPO, TINY_TRAINED_TRANSLATION

pytestmark = pytest.mark.ray

CONFIG = str(REPO / "conf" / "translate_en_de.yaml")


def tiny(run_dir, stages, steps: int) -> list[str]:
    return [
        f"run.dir={run_dir}",
        f"run.stages={stages}",
        *TINY_TRAINED_TRANSLATION,
        "model.encoder.dropout=0",
        "model.decoder.dropout=0",
        "train.batch_size=600",
        "train.lr=0.003",
        "train.warmup_steps=0",
        f"train.max_steps={steps}",
        "train.checkpoint_every=2",
        "train.log_every=1",
        "train.validate_every=3",
        "train.valid_limit=16",
        "train.threads=1",
        "search.beam_size=1",
    ]


def weights(run_dir) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt").model


def single_process(run_dir, stages, steps: int, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    task, cfg = load_task_config(CONFIG, "quick", [*tiny(run_dir, stages, steps), *extra])
    task.train(cfg, TrainOptions())
    return weights(run_dir)


def assert_close(a: dict, b: dict, start: dict) -> None:
    """Equal up to float32 summation order: the ranks add two partial sums where one process adds all rows
    at once, and Adam's first steps (update ≈ lr · sign(g)) amplify that for near-zero gradients. The bound
    is absolute and also under 1 % of how far the weights moved."""
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    moved = max(float((b[k].float() - start[k].float()).abs().max()) for k in a)
    assert worst < 1e-4 and worst < 0.01 * moved, f"largest weight difference {worst:.2e} (weights moved {moved:.2e})"


def test_two_workers_take_the_single_process_steps_and_resume(ray_cluster, translation_stages, tmp_path):
    from pipeline.training.ray_train import train_on_ray

    initial = single_process(tmp_path / "single0", translation_stages, 0)
    reference4 = single_process(tmp_path / "single4", translation_stages, 4)
    reference6 = single_process(tmp_path / "single6", translation_stages, 6)
    assert max(float((reference4[k] - reference6[k]).abs().max()) for k in reference4) > 1e-3  # steps 5-6 matter

    run = tmp_path / "ray"
    storage = tmp_path / "ray_storage"
    train_on_ray(CONFIG, "quick", tiny(run, translation_stages, 4), TrainOptions(), 2, storage=str(storage))
    assert_close(weights(run), reference4, initial)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]  # rank 0 alone writes the log
    assert [r["step"] for r in rows if r["kind"] == "valid"] == [3]
    assert (run / "checkpoints" / "best.pt").is_file()
    assert list(storage.rglob("last.pt")), "no checkpoint was reported to Ray Train"

    train_on_ray(CONFIG, "quick", tiny(run, translation_stages, 6), TrainOptions(), 2, storage=str(storage))
    assert load_checkpoint(run / "checkpoints" / "last.pt").train["state"]["step"] == 6
    assert_close(weights(run), reference6, initial)  # resumed at step 4, not restarted

    # A single-process run goes on in the same folder (differently: a tight gradient clip), past the snapshot
    # Ray Train keeps from the call above: the next call resumes from the newer last.pt, not the snapshot.
    task, cfg = load_task_config(CONFIG, "quick", [*tiny(run, translation_stages, 8), "train.clip_grad_norm=0.01"])
    task.train(cfg, TrainOptions())
    went_on = weights(run)
    train_on_ray(CONFIG, "quick", tiny(run, translation_stages, 8), TrainOptions(), 2, storage=str(storage))
    assert load_checkpoint(run / "checkpoints" / "last.pt").train["state"]["step"] == 8
    assert all(torch.equal(weights(run)[k], went_on[k]) for k in went_on)  # nothing retrained from step 6

    # --restart starts over, whatever the run folder and Ray Train's storage hold.
    train_on_ray(CONFIG, "quick", tiny(run, translation_stages, 4), TrainOptions(restart=True), 2, storage=str(storage))
    assert load_checkpoint(run / "checkpoints" / "last.pt").train["state"]["step"] == 4
    assert_close(weights(run), reference4, initial)


def toy_run(out_dir: str, steps: int) -> None:
    """The Trainer on a toy classifier over fixed batches of uneven sizes (7, 10, 5 rows): this process's
    step-1 gradient (after the all-reduce), its weights after ``steps`` steps and its node, saved to
    ``out_dir/rank<r>.pt``. Runs the same in a single process and in every Ray Train worker."""
    from pathlib import Path

    import ray
    import torch
    from torch import nn

    from pipeline.data.batching import ImageBatch
    from pipeline.device import resolve_runtime
    from pipeline.losses import classification_loss
    from pipeline.training.data_parallel import DataParallel
    from pipeline.training.trainer import TrainConfig, Trainer

    class Batches:
        def epoch(self, epoch: int):
            gen = torch.Generator().manual_seed(epoch)
            return [ImageBatch(torch.rand(n, 1, 3, 4, generator=gen), torch.randint(0, 3, (n,), generator=gen))
                    for n in (7, 10, 5)]  # fmt: skip

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))
    grads = {}

    def on_step(step: int) -> None:
        if step == 1:
            grads.update({n: p.grad.clone() for n, p in model.named_parameters()})

    rank = DataParallel.current().rank
    cfg = TrainConfig(lr=0.05, max_steps=steps, clip_grad_norm=None, log_every=1, checkpoint_every=steps)
    trainer = Trainer(cfg, resolve_runtime("cpu", "fp32"), model, classification_loss, Batches(), None,
                      Path(out_dir) / f"run{rank}", {"task": "toy"}, on_step=on_step)  # fmt: skip
    trainer.fit(resume=False)
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    torch.save({"grads": grads, "weights": model.state_dict(), "node": node}, Path(out_dir) / f"rank{rank}.pt")


def test_two_workers_on_two_nodes_give_the_single_process_gradient_and_weights(ray_cluster, tmp_path):
    """Toy model, 2 Ray Train workers on the two nodes (STRICT_SPREAD), 8 steps over batches of odd sizes:
    the step-1 gradient and the final weights equal one process's on the same global batches within 1e-5,
    and the two ranks hold bit-identical weights (the trainer also checks that after every step)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    steps = 8
    single, spread = tmp_path / "single", tmp_path / "spread"
    single.mkdir()
    spread.mkdir()
    toy_run(str(single), steps)
    TorchTrainer(
        lambda loop: toy_run(loop["out"], loop["steps"]),
        train_loop_config={"out": str(spread), "steps": steps},
        torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(
            num_workers=2, resources_per_worker={"CPU": 1}, placement_strategy="STRICT_SPREAD"
        ),
        run_config=RunConfig(name="toy", storage_path=str(tmp_path / "storage")),
    ).fit()
    one = torch.load(single / "rank0.pt")
    ranks = [torch.load(spread / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["node"] != ranks[1]["node"], "the two workers ran on one node"
    for name, grad in one["grads"].items():
        for r in ranks:
            torch.testing.assert_close(r["grads"][name], grad, rtol=0, atol=1e-5)
    for name, weight in one["weights"].items():
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name]), name
        torch.testing.assert_close(ranks[0]["weights"][name], weight, rtol=0, atol=1e-5)
    assert any(float(g.abs().max()) > 1e-3 for g in one["grads"].values())  # a gradient that is not ~0


def test_a_task_with_its_own_loop_is_refused(ray_cluster):
    from pipeline.training.ray_train import train_on_ray

    with pytest.raises(PipelineError, match="data-parallel training is available for"):
        train_on_ray(str(REPO / "conf" / "gan_mnist_dcgan.yaml"), None, [], TrainOptions(), 2)


def train_worker_pids() -> list[int]:
    """Ray Train worker processes on this machine (their process title names the actor class)."""
    from pathlib import Path

    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"RayTrainWorker" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:  # the process ended while we looked
            continue
    return sorted(pids)


def test_a_killed_worker_resumes_from_the_last_checkpoint(ray_cluster, translation_stages, tmp_path):
    """SIGKILL one worker mid-run: Ray Train restarts the group, which resumes from the last reported
    checkpoint and finishes with the weights of an uninterrupted run (dropout is off, the data order is a
    function of the epoch, so nothing differs)."""
    import os
    import signal
    import threading
    import time

    from pipeline.training.ray_train import train_on_ray

    steps = 160
    extra = ("train.checkpoint_every=20", "train.validate_every=80")
    overrides = [*tiny(tmp_path / "ray", translation_stages, steps), *extra]
    initial = single_process(tmp_path / "single0", translation_stages, 0)
    reference = single_process(tmp_path / "single", translation_stages, steps, extra)
    run, errors = tmp_path / "ray", []

    def fit() -> None:
        try:
            train_on_ray(CONFIG, "quick", overrides, TrainOptions(), 2, storage=str(tmp_path / "storage"))
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    thread = threading.Thread(target=fit)
    thread.start()
    deadline, killed = time.monotonic() + 240, None
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        log = run / "metrics.jsonl"
        done = [json.loads(line)["step"] for line in log.read_text().splitlines()] if log.exists() else []
        if done and max(done) >= 30:  # past the first checkpoint (step 20), before the end
            workers = train_worker_pids()
            if workers:
                killed = workers[-1]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "the run ended before a worker could be killed"
    assert not thread.is_alive() and not errors, errors
    assert load_checkpoint(run / "checkpoints" / "last.pt").train["state"]["step"] == steps
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(logged)  # the resumed run dropped the rows after its checkpoint, then went on
    assert_close(weights(run), reference, initial)
