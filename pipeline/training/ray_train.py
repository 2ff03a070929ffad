"""``pipeline train CONFIG --workers N``: the same training, data-parallel on a Ray cluster (Ray Train).

A :class:`ray.train.torch.TorchTrainer` starts ``N`` workers (one CPU each, or one GPU each when the
cluster has GPUs); Ray Train creates the ``torch.distributed`` process group (gloo on CPUs, nccl on GPUs)
and each worker runs the task's ordinary ``train`` step. The loop itself
(:class:`~pipeline.training.trainer.Trainer` with :mod:`~pipeline.training.data_parallel`) splits every
global batch between the workers, so the optimisation is the single-process one with the same
``train.batch_size``: the same number of steps per epoch, the same learning rate.

Checkpoints: rank 0 writes the run folder's ``last.pt`` and ``best.pt`` as a single-process run does and
attaches ``last.pt`` to Ray Train's report at every checkpoint. A worker that dies makes Ray Train restart
the group (``--max-failures``); the new workers resume from the latest reported checkpoint (or, on the
first start, from the run folder's ``last.pt``, as ``pipeline train`` always does), so no more than
``train.checkpoint_every`` steps are lost. A later call finds the reported snapshot of the run too, and
resumes from it unless every rank's run folder holds a newer ``last.pt`` (a single-process run went on);
``--restart`` deletes it.

On several machines: start Ray on each (``ray start --head`` on one, ``ray start --address HEAD:6379`` on
the others), give ``--address auto`` (or ``HEAD:6379``) and ``--storage`` a folder every node can reach
(NFS, or an object store URI Ray supports); set ``GLOO_SOCKET_IFNAME`` when the nodes have several
network interfaces. The run folder (metrics, figures, ``best.pt``) is written on the node of rank 0.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.progress import log
from pipeline.tasks import TrainOptions

# Tasks whose loop is the Trainer and whose batches can be split by rows (``batch.shard``). Their losses are
# means over tokens or images, so the token-weighted sum over ranks is exact; the one exception is the
# sparse autoencoders' KL penalty, which each rank computes over its own rows' mean activity.
DATA_PARALLEL_TASKS = ("translation", "captioning", "classifier", "autoencoder")


def train_on_ray(
    config: str,
    preset: str | None,
    overrides: list[str],
    options: TrainOptions,
    workers: int,
    address: str | None = None,
    storage: str | None = None,
    max_failures: int = 2,
    cpus_per_worker: float = 1.0,
) -> Path:
    """Train ``config`` on ``workers`` Ray Train workers; returns the run folder."""
    from pipeline.tasks import load_task_config

    task, cfg = load_task_config(config, preset, overrides)  # a bad config fails here, before Ray starts
    if task.name not in DATA_PARALLEL_TASKS:
        raise PipelineError(
            f"--workers: task {task.name!r} trains in its own loop; data-parallel training is available for "
            f"{', '.join(DATA_PARALLEL_TASKS)}"
        )
    if workers < 1:
        raise PipelineError(f"--workers must be at least 1, got {workers}")
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    task.prepare(cfg, options.force)  # build the cached data stages once, before the workers read them
    _start_ray(address)
    gpus = ray.cluster_resources().get("GPU", 0) >= workers and cfg.train.device != "cpu"
    run_dir = Path(cfg.run.dir).resolve()
    storage = str(Path(storage).resolve()) if storage and "://" not in storage else storage
    storage = storage or str(run_dir.parent / "ray_train")
    if options.restart:  # else Ray Train would restore the snapshot an earlier call reported
        _forget_reported(storage, run_dir.name)
    trainer = TorchTrainer(
        _worker,
        train_loop_config={
            "config": str(Path(config).resolve()),
            "preset": preset,
            "overrides": [*overrides, f"run.dir={run_dir}", f"run.stages={Path(cfg.run.stages).resolve()}"],
            "options": {**asdict(options), "force": False},
            "threads": cfg.train.threads or max(1, int(cpus_per_worker)),
        },
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpus, resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(
            name=run_dir.name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
        ),
    )
    log(f"training {config} on {workers} Ray Train workers ({'GPU' if gpus else f'{cpus_per_worker:g} CPU'} each)")
    result = trainer.fit()
    if result.error is not None:
        raise PipelineError(f"distributed training failed: {result.error}")
    return run_dir


def _forget_reported(storage: str, name: str) -> None:
    """Delete Ray Train's stored run ``name`` (its snapshot and reported checkpoints), local or remote."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(storage if "://" in storage else f"file://{storage}")
    folder = f"{root.rstrip('/')}/{name}"
    if filesystem.get_file_info(folder).type != pyarrow.fs.FileType.NotFound:
        filesystem.delete_dir(folder)


def _start_ray(address: str | None) -> None:
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        return
    # Train V2 patches ``print`` in its workers to also go through logging, which shows every status line
    # twice; the trainer's lines already reach the driver through Ray's own log forwarding.
    runtime_env = {"env_vars": {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}}
    if address:
        ray.init(address=address, log_to_driver=True, runtime_env=runtime_env)
    else:
        # With the dashboard: Train V2's placement-group cleaner polls the state API, which it serves;
        # without one it logs a warning every second of the run.
        ray.init(
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
            runtime_env=runtime_env,
        )


def _worker(loop: dict) -> None:
    """One Ray Train worker: this rank's share of every step of the task's ordinary training."""
    import ray.train
    import torch

    from pipeline.tasks import load_task_config
    from pipeline.training.data_parallel import set_reporter

    torch.set_num_threads(int(loop["threads"]))
    _quiet_reports()
    task, cfg = load_task_config(loop["config"], loop["preset"], loop["overrides"])
    options = TrainOptions(**loop["options"])
    restored = ray.train.get_checkpoint()
    if restored is not None:  # a restarted group, or an earlier call's snapshot: continue from it
        last = Path(cfg.run.dir) / "checkpoints" / "last.pt"
        with restored.as_directory() as folder:
            if not _run_folders_are_newer(Path(folder) / "last.pt", last):
                _install_last(Path(folder) / "last.pt", last)
        options = TrainOptions(force=False, restart=False)
    set_reporter(_report)
    try:
        task.train(cfg, options)
    finally:
        set_reporter(None)


def _quiet_reports() -> None:
    """Train V2 logs "Reporting training result …" and "Checkpoint successfully created at …" at INFO for
    every ``ray.train.report`` with a checkpoint, from two of its modules' loggers; the trainer's own
    lines already say what was saved. Warnings still show."""
    try:
        from ray.train.v2._internal.execution import context, storage
    except ImportError:  # another Ray version: leave its logging alone
        return
    for name in (context.logger.name, storage.logger.name):
        logging.getLogger(name).setLevel(logging.WARNING)


def _run_folders_are_newer(reported: Path, last: Path) -> bool:
    """Whether every rank's run folder holds a ``last.pt`` past Ray Train's latest reported checkpoint,
    all at the same step: e.g. a single-process run went on in the run folder after an earlier
    ``--workers`` call. Then that file is the one to resume from; otherwise (a restarted group, or ranks on
    nodes whose run folders differ) every rank installs the reported one, so all ranks resume alike.
    Decided collectively, so the ranks cannot disagree."""
    import torch
    import torch.distributed as dist

    from pipeline.checkpoint import checkpoint_step

    def step_of(path: Path) -> int:  # -1: none, or unreadable (a rank must not fail before the all-reduce)
        try:
            return (checkpoint_step(path) or -1) if path.is_file() else -1
        except PipelineError:
            return -1

    ours, theirs = step_of(last), step_of(reported)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    steps = torch.tensor([ours, -ours], dtype=torch.int64, device=device)
    dist.all_reduce(steps, op=dist.ReduceOp.MAX)
    highest, lowest = int(steps[0]), -int(steps[1])
    return highest == lowest and lowest > theirs


def _install_last(source: Path, target: Path) -> None:
    """Copy a reported ``last.pt`` into the run folder atomically (ranks on one node write the same bytes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".last-", suffix=".pt")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _report(metrics: dict, last: Path | None) -> None:
    """Ray Train's report at a checkpoint: every rank calls it at the same step; rank 0 attaches last.pt."""
    import ray.train

    if last is None:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="pipeline-ckpt-") as folder:
        shutil.copy(last, Path(folder) / "last.pt")  # Ray copies the folder into the run's storage
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
