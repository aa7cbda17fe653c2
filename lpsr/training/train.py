"""Training: one plain loop, a run folder per configuration.

`train(config)` trains the configured model on random aligned patches of the train split,
validates on whole val plates every `val_every` iterations, keeps the best checkpoint by
validation PSNR-Y (the paper selects on test; we select on validation and report test
once), and writes into `runs/<model>-<run id>/`:

    config.yaml     the full configuration          env.json    seed, versions, machine, precision
    log.jsonl       one line per iteration and per validation
    last.pt         everything needed to resume     best.pt     the selected weights
    previous.pt     the checkpoint before last.pt (while the run is unfinished)
    stable.pt       a wsd run's checkpoint where its decay begins, with the best weights so far
    branch.json     for a run that started from another's stable.pt: which, and at what iteration
    done.json       the final summary (its presence means the run is complete)

The run id hashes the configuration and the data, so asking for a run that exists returns
it without training again, and an interrupted run resumes where its last checkpoint was. A
new run with the wsd schedule starts from the `stable.pt` of a run in `branch_from` that differs
from it only in its length (same configuration, same data: checked through the run id): up to
that run's decay the two are the same run, so the shorter run's stable phase is not trained twice.
Every file is written atomically (`write_atomic`: fsynced, then renamed), so a crash, a full disk
or a power cut leaves the previous version whole; a resumed run falls back to previous.pt when
last.pt is missing or unreadable, and drops a log line torn by a crash. SIGINT/SIGTERM write a
checkpoint and stop with `TrainingStopped` (the command exits 128 + the signal number); a
non-finite loss stops with a message and keeps the last good checkpoint. A loss that explodes
(over `train.divergence` times its lowest running mean) after a first validation ends the run as
a result: `done.json` records where and why (`diverged`), `best.pt` holds the validation-selected
weights from before it (several processes, or no validation yet: an error as for a non-finite loss).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from lpsr.config import RunConfig, TrainConfig, validate_config
from lpsr.data.patches import PlatePatches
from lpsr.data.plates import PlateSet, load_plates, nested_subset, plate_source, plate_subset
from lpsr.files import CheckpointError, checkpoint_bytes, load_checkpoint, write_atomic
from lpsr.inference import autocast, super_resolve
from lpsr.losses import TrainingLoss
from lpsr.losses.encoder import encoder_fingerprint
from lpsr.metrics import psnr_rgb, psnr_y
from lpsr.models import build_model, check_options, count_parameters
from lpsr.precision import CPU_KERNEL_ENV, CompiledOrEager, as_device, runs_cpu_kernels
from lpsr.seeding import deterministic_cuda, seed_everything
from lpsr.training.encoder_pretraining import loss_for
from lpsr.training.runs import environment, renamed_legacy_run, run_config, run_dir_for, truncate_log
from lpsr.training.sharing import MachineShare, RunLock

STABLE = "stable.pt"  # a wsd run's state where its decay begins
SHARE_CHECK_EVERY = 10  # iterations between looks at the trainings sharing this machine


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, ...); the last good checkpoint is kept."""


class TrainingStopped(KeyboardInterrupt):
    """Training was stopped by a signal after writing its checkpoint; the same command resumes it.
    `exit_code` is what a shell reports for that signal (128 + its number)."""

    def __init__(self, signum: int, iteration: int, run_dir: Path):
        super().__init__(
            f"stopped by {signal.Signals(signum).name} at iteration {iteration}; {run_dir / 'last.pt'} holds it: run the same command to resume"
        )
        self.exit_code = 128 + signum
        self.signum, self.iteration, self.run_dir = signum, iteration, run_dir

    def __reduce__(self):  # raised again in the parent of a child-process run (_train_in_child)
        return type(self), (self.signum, self.iteration, self.run_dir)


def distributed_setup(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under `torchrun` (WORLD_SIZE > 1) this joins the process
    group: NCCL with one GPU per process when CUDA is used, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, as_device(device_name)
    cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), world, torch.device("cuda", local_rank) if cuda else torch.device("cpu")


def parameters_checksum(module: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() * (i + 1) for i, p in enumerate(module.parameters())))


def lr_factor(iteration: int, train: TrainConfig) -> float:
    """The schedule's factor of the base lr: a linear warm-up, then cosine annealing from 1 to the
    floor (min_lr as a fraction of lr) over the rest of the run, or (wsd) 1 until
    `train.stable_until()` and a linear decay to the floor over the run's last `decay` share."""
    floor, total = train.min_lr / train.lr, train.iterations
    if iteration < train.warmup:
        return (iteration + 1) / train.warmup
    if train.schedule == "wsd":
        start = train.stable_until()
        return 1 - (1 - floor) * max(0, iteration - start) / max(1, total - start)
    progress = (iteration - train.warmup) / max(1, total - train.warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def validation_points(total: int, every: int, early: bool) -> set[int]:
    """Iterations after which to validate: every `every`, the last, and with `early` the 1-2-5
    steps below `every` (10, 20, 50, 100, ...), so curves on a log axis have points early."""
    points = set(range(every, total + 1, every)) | {total}
    if early:
        points |= {m * 10**e for e in range(1, 8) for m in (1, 2, 5) if m * 10**e < min(every, total)}
    return points


def validate(model, plates, device, config: RunConfig) -> dict:
    sr = super_resolve(model, plates.lr, device, bf16=config.train.bf16, channels_last=config.train.channels_last)
    return {
        "val_psnr": float(np.median([psnr_rgb(s, h) for s, h in zip(sr, plates.hr)])),
        "val_psnr_y": float(np.median([psnr_y(s, h) for s, h in zip(sr, plates.hr)])),
    }


def prepare_data(config: RunConfig, progress: bool = True):
    """Train and val plates for a configuration, and a fingerprint of them."""
    root, protocol = plate_source(config)
    train_plates = load_plates(root, "train", protocol, progress=progress)
    train_plates = nested_subset(train_plates, config.data.train_plates, config.data.subset_seed)
    val_plates = load_plates(root, "val", protocol, progress=progress)
    if config.data.val_plates:
        val_plates = plate_subset(val_plates, range(min(config.data.val_plates, len(val_plates))))
    fingerprint = json.dumps([train_plates.files, val_plates.files, asdict(protocol), str(root)])
    return train_plates, val_plates, fingerprint


def _resume_state(run_dir: Path) -> dict | None:
    """The newest whole checkpoint of an interrupted run: last.pt, else previous.pt (kept for when
    last.pt is missing or unreadable); None for a new run, or when no whole checkpoint is left
    (training starts over). A fallback is named on stderr. Loaded on the CPU, where the random
    generators' states live; the weights and the optimiser's state move to the run's device as
    they are loaded into it."""
    problems = []
    for path in (run_dir / "last.pt", run_dir / "previous.pt"):
        try:
            state = load_checkpoint(path, "cpu")
        except (FileNotFoundError, CheckpointError) as error:
            problems.append(str(error))
            continue
        if problems:
            print(f"{problems[0]}: resuming from {path.name}", file=sys.stderr)
        return state
    if (run_dir / "last.pt").exists() or (run_dir / "previous.pt").exists():
        print(f"{problems[0]}: no whole checkpoint is left, training starts over", file=sys.stderr)
    return None


@dataclass
class TrainState:
    """What a run carries from one iteration to the next; its checkpoint holds all of it."""

    iteration: int = 0
    best: dict = field(default_factory=lambda: {"val_psnr_y": -math.inf, "iteration": 0})
    loss_mean: float | None = None  # running mean of the loss, and its lowest value: for divergence
    loss_floor: float = math.inf
    divergence: dict | None = None  # where and why a diverged run ended, once it has
    stop: int | None = None  # the signal that asked the run to stop
    resumed_from: int = 0


@dataclass
class Run:
    """The objects one training run works with, built by `_set_up`."""

    config: RunConfig
    run_dir: Path
    device: torch.device
    rank: int
    world: int
    precision: dict
    patches: PlatePatches
    val_plates: PlateSet
    loss_fn: TrainingLoss
    model: torch.nn.Module
    forward: torch.nn.Module  # the model as trained: compiled and/or wrapped for DDP
    compiled: CompiledOrEager | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generator: torch.Generator
    fingerprint: str  # the data's, as the run id hashes it

    @property
    def main(self) -> bool:
        return self.rank == 0


def train(
    config: RunConfig,
    runs_dir: str | Path = "runs",
    progress: bool = True,
    retrain: bool = False,
    branch_from: list[str | Path] = (),
) -> Path:
    """Train (or resume, or return the finished run) and return the run folder; a signal stops
    it with `TrainingStopped` once its checkpoint is written. A new wsd run starts from the
    latest stable phase among the runs `branch_from` that are this run but shorter."""
    # set-up: data, loss and run folder (a finished run is returned as it is), then the model
    validate_config(config)
    check_options(config.model.name, config.model.options)  # before anything is written
    if not runs_cpu_kernels(config.train.cpu_kernels):
        return _train_in_child(config, runs_dir, progress, retrain, list(branch_from))
    seed_everything(config.train.seed)
    with MachineShare(config.train.threads) as share:
        torch.set_num_threads(share.threads())
        run = _set_up(config, runs_dir, progress, retrain)
        if isinstance(run, Path):
            return run
        with RunLock(run.run_dir) if run.main else nullcontext():
            # resume from the newest whole checkpoint, if any (a new wsd run: from a shorter run's stable phase)
            says = progress and run.main  # where it resumes from, said at the command line (a chapter keeps quiet)
            if not retrain:
                _branch(run, branch_from, says)
            state = TrainState() if retrain else _resume(run, says)
            _record_start(run, state)
            started = time.perf_counter()
            _train_loop(run, state, share, progress)
            # finish: done.json says the run is complete
            return _finish(run, state, time.perf_counter() - started)


def _train_loop(run: Run, state: TrainState, share: MachineShare, progress: bool) -> None:
    """Iterate from `state.iteration` to the end (or a divergence), logging, validating and
    checkpointing; a signal stops it with `TrainingStopped` once its checkpoint is written."""
    config, total = run.config, run.config.train.iterations
    validations = validation_points(total, config.train.val_every, config.train.val_early)
    stable = config.train.stable_until() if config.train.schedule == "wsd" else None
    log = open(run.run_dir / "log.jsonl", "a", encoding="utf-8") if run.main else open(os.devnull, "w")
    quiet, name = not (progress and run.main), run.run_dir.name
    bar = tqdm(range(state.iteration, total), initial=state.iteration, total=total, desc=name, disable=quiet, unit="it")
    with _stop_on_signals(state), log, bar:
        run.model.train()
        for iteration in bar:
            if iteration % SHARE_CHECK_EVERY == 0:  # follow the machine's share as trainings start and end
                threads = share.threads()
                if threads != torch.get_num_threads():
                    torch.set_num_threads(threads)
            # step: one batch of patches, the loss (eq. 19 for PECL), the optimiser, the loss's own step
            record = _step(run, state, iteration)
            if state.divergence is not None:
                break
            log.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            done = state.iteration = iteration + 1
            # validate on whole val plates and keep the best checkpoint by val PSNR-Y
            if done in validations and run.main:
                scores = _validate_and_select(run, state, done)
                log.write(json.dumps({"iteration": done, **scores}) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}", val_psnr_y=f"{scores['val_psnr_y']:.2f}")
            # checkpoint every val_every, at the end and when stopped; the log reaches as far
            _agree_on_stop(run, state)
            if done % config.train.val_every == 0 or done == total or state.stop is not None:
                log.flush()
                _checkpoint(run, state)
            if done == stable and done < total:  # where longer wsd runs branch off
                log.flush()
                _checkpoint(run, state, STABLE)
            if state.stop is not None:
                raise TrainingStopped(state.stop, done, run.run_dir)


def _train_in_child(config: RunConfig, runs_dir, progress: bool, retrain: bool, branch_from: list) -> Path:
    """`train` in a child process whose torch loads with the CPU kernels `train.cpu_kernels` names
    (lpsr.precision.CPU_KERNEL_ENV); its errors, and a signal's stop, are raised here again."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(f"train.cpu_kernels={config.train.cpu_kernels} trains in a child process: not under torchrun")
    env = CPU_KERNEL_ENV[config.train.cpu_kernels]
    before = {name: os.environ.get(name) for name in env}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        os.environ.update(env)  # the child process starts at submit, with them
        try:
            future = child.submit(train, config, runs_dir, progress, retrain, branch_from)
        finally:
            for name, value in before.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value
        return future.result()


def _run_folder(config: RunConfig, runs_dir, fingerprint: str, rank: int, world: int, progress: bool) -> Path:
    """The run's folder, renamed first from its name under the earlier run-id rule if it has one."""
    if rank == 0 and (renamed := renamed_legacy_run(config, runs_dir, fingerprint)) and progress:
        print(f"run folder renamed to its current id: {renamed}", flush=True)
    if world > 1:
        dist.barrier()  # the other replicas look for the folder once rank 0 has renamed it
    return run_dir_for(config, runs_dir, fingerprint)


def _set_up(config: RunConfig, runs_dir: str | Path, progress: bool, retrain: bool) -> Run | Path:
    """Everything a run trains with; the run folder alone when the run is finished already."""
    rank, world, device = distributed_setup(config.train.device)
    if device.type == "cuda":
        deterministic_cuda()
    precision = config.resolved_precision(device)  # "auto" settings as this device resolves them
    progress = progress and rank == 0
    if world > 1 and rank != 0:
        dist.barrier()  # rank 0 prepares the plate cache and the encoder first
    train_plates, val_plates, fingerprint = prepare_data(config, progress)
    loss_fn = loss_for(config, Path(train_plates.summary["root"]), train_plates, progress).to(device)
    if world > 1 and rank == 0:
        dist.barrier()
    if loss_fn.encoder is not None:
        fingerprint += encoder_fingerprint(loss_fn.encoder)
    run_dir = _run_folder(config, runs_dir, fingerprint, rank, world, progress)
    if (run_dir / "done.json").is_file() and not retrain:
        return run_dir
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic({run_dir / "config.yaml": yaml.safe_dump(config.to_dict(), sort_keys=False).encode("utf-8")})
    patches = PlatePatches(train_plates, config.data.patch_size)
    model = build_model(config.model.name, config.model.scale, **config.model.options).to(device)
    if count_parameters(model) == 0:
        raise ValueError(
            f"{config.model.name} has no parameters to train: evaluate it directly (lpsr eval --model {config.model.name})"
        )
    if config.train.channels_last:  # the loss's networks too (PECL's encoder): they see the SR in that layout
        model, loss_fn = model.to(memory_format=torch.channels_last), loss_fn.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(
        [{"params": model.parameters()}] + ([{"params": loss_fn.trainable}] if loss_fn.trainable else []),
        lr=config.train.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: _lr_factor(config, loss_fn, i))
    generator = torch.Generator().manual_seed(config.train.seed + rank)  # each replica its own patches
    compiled = CompiledOrEager(model) if precision["compile"] else None  # eager, with a warning, if compiling fails
    forward = model if compiled is None else compiled
    if world > 1:
        forward = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)
    return Run(
        config,
        run_dir,
        device,
        rank,
        world,
        precision,
        patches,
        val_plates,
        loss_fn,
        model,
        forward,
        compiled,
        optimizer,
        scheduler,
        generator,
        fingerprint,
    )


def _lr_factor(config: RunConfig, loss_fn: TrainingLoss, iteration: int) -> float:
    """The schedule's factor of the base lr, under the loss's cap (ESRGAN's GAN phase trains at its own lr)."""
    factor = lr_factor(iteration, config.train)
    cap = loss_fn.lr_cap(iteration)
    return factor if cap is None else min(factor, cap / config.train.lr)


def _resume(run: Run, says: bool = True) -> TrainState:
    """The state of the newest whole checkpoint loaded into the run's objects; a fresh state when there is none."""
    saved = _resume_state(run.run_dir)
    if saved is None:
        return TrainState()
    run.model.load_state_dict(saved["model"])
    run.loss_fn.load_state_dict(saved["loss"], strict=False)  # a frozen encoder is rebuilt, not stored
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    run.generator.set_state(saved["generators"][run.rank])
    torch.set_rng_state(saved["torch_rng"])
    if says:
        print(f"resuming {run.run_dir.name} at iteration {saved['iteration']}")
    start = saved["iteration"]
    return TrainState(
        start, saved["best"], saved.get("loss_mean"), saved.get("loss_floor", math.inf), resumed_from=start
    )


def _record_start(run: Run, state: TrainState) -> None:
    """Cut the log back to the checkpoint resumed from; write env.json."""
    if not run.main:
        return
    truncate_log(run.run_dir / "log.jsonl", state.iteration)
    encoder_info = run.loss_fn.encoder.init_info if run.loss_fn.encoder is not None else None
    env = environment(run.config, run.device) | {
        "world_size": run.world,
        "parameters": count_parameters(run.model),
        "encoder": encoder_info,
        "train_plates": len(run.patches),
        "train_plates_skipped": run.patches.skipped,
        "val_plates": len(run.val_plates),
    }
    write_atomic({run.run_dir / "env.json": json.dumps(env, indent=2).encode("utf-8")})


@contextmanager
def _stop_on_signals(state: TrainState):
    """SIGINT and SIGTERM set `state.stop` (the loop checkpoints and stops); the handlers before are put back."""

    def note(signum, _frame):
        state.stop = signum

    handlers = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _step(run: Run, state: TrainState, iteration: int) -> dict:
    """One optimiser step; the log record, or a divergence noted in `state` (a non-finite loss,
    or one without a validated checkpoint to fall back on, raises TrainingError)."""
    config, tick = run.config, time.perf_counter()
    lr, hr = run.patches.batch(config.train.batch_size, run.generator)
    lr, hr = lr.to(run.device), hr.to(run.device)
    if config.train.channels_last:
        lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
    data_s = time.perf_counter() - tick
    with autocast(run.device, run.precision["bf16"]):
        sr = run.forward(lr)
        loss, terms = run.loss_fn(sr.float(), hr, iteration=iteration, model=run.forward, generator=run.generator)
    value = loss.item()
    _check_divergence(run, state, iteration, value, terms)
    if state.divergence is not None:
        return {}
    state.loss_mean = value if state.loss_mean is None else 0.9 * state.loss_mean + 0.1 * value
    state.loss_floor = min(state.loss_floor, state.loss_mean)
    used_lr = run.optimizer.param_groups[0]["lr"]
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.world > 1:  # DDP averages the model's gradients; the loss's own parameters are averaged here
        for p in run.loss_fn.trainable:
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)
    if config.train.grad_clip:
        terms["grad_norm"] = torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.train.grad_clip).item()
    run.optimizer.step()
    terms |= run.loss_fn.after_step(sr.detach().float(), hr)  # PECL's weight clipping, a GAN's discriminator step
    run.scheduler.step()
    step_s = time.perf_counter() - tick
    return {
        "iteration": iteration + 1,
        "loss": value,
        **terms,
        "lr": used_lr,
        "samples_per_s": config.train.batch_size / step_s,
        "data_share": data_s / step_s,
        "threads": torch.get_num_threads(),
    }


def _check_divergence(run: Run, state: TrainState, iteration: int, value: float, terms: dict) -> None:
    """A non-finite loss, or one over `train.divergence` times its lowest running mean (an
    uncertainty-weighted loss can go negative), ends the run: as a result (`state.divergence`)
    after a validation on one process, else with TrainingError."""
    floor, limit = state.loss_floor, run.config.train.divergence
    diverged = 0 < floor < math.inf and value > limit * floor
    if math.isfinite(value) and not diverged:
        return
    why = f"over {limit:g} times its lowest running mean {floor:.4g}" if diverged else "non-finite"
    message = f"loss diverged at iteration {iteration + 1}: {value:.4g}, {why} ({', '.join(f'{k}={v:.4g}' for k, v in terms.items())})"
    if diverged and run.world == 1 and state.best["iteration"]:
        state.divergence = {"iteration": iteration + 1, "message": message}
        return
    raise TrainingError(
        f"{message}; the last good checkpoint is kept in {run.run_dir / 'last.pt'} and the best in {run.run_dir / 'best.pt'}"
    )


def _validate_and_select(run: Run, state: TrainState, done: int) -> dict:
    """Validation scores after `done` iterations; best.pt when they beat the best so far (and the loss allows selecting here)."""
    scores = validate(run.model, run.val_plates, run.device, run.config)
    if scores["val_psnr_y"] > state.best["val_psnr_y"] and run.loss_fn.selectable(done):
        state.best = {"iteration": done, **scores}
        best = {"model": run.model.state_dict(), "model_config": asdict(run.config.model), "iteration": done, **scores}
        write_atomic({run.run_dir / "best.pt": checkpoint_bytes(best)})
    return scores


def _agree_on_stop(run: Run, state: TrainState) -> None:
    """Every replica stops at the same iteration: the highest signal number any of them saw."""
    if run.world > 1:
        flag = torch.tensor([0 if state.stop is None else int(state.stop)], device=run.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        state.stop = int(flag.item()) or None


def _checkpoint(run: Run, state: TrainState, name: str = "last.pt") -> None:
    """last.pt: everything a resumed run needs; the one before stays as previous.pt should the write
    fail. STABLE: the same, with the best weights so far, for runs that branch off here."""
    generators = [run.generator.get_state()]
    if run.world > 1:
        generators = [None] * run.world
        dist.all_gather_object(generators, run.generator.get_state())
    if not run.main:
        return
    saved = {
        "model": run.model.state_dict(),
        "loss": {
            k: v
            for k, v in run.loss_fn.state_dict().items()
            if run.config.loss.trainable or not k.startswith("encoder.")
        },
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "generators": generators,
        "torch_rng": torch.get_rng_state(),
        "iteration": state.iteration,
        "best": state.best,
        "loss_mean": state.loss_mean,
        "loss_floor": state.loss_floor,
        "model_config": asdict(run.config.model),
    }
    if name == STABLE:
        best = run.run_dir / "best.pt"
        saved["best_model"] = load_checkpoint(best)["model"] if best.is_file() else None
        write_atomic({run.run_dir / STABLE: checkpoint_bytes(saved)})
        return
    data, last = checkpoint_bytes(saved), run.run_dir / "last.pt"
    if last.is_file():
        os.replace(last, run.run_dir / "previous.pt")
    write_atomic({last: data})


def _branch(run: Run, sources: list[str | Path], says: bool = True) -> None:
    """Start a new wsd run from the latest stable phase among `sources` that is this run's: last.pt
    and best.pt from its stable.pt, its log (cut there when the run starts), and branch.json.
    Nothing happens for a cosine run, a run already started, or under several processes."""
    if run.config.train.schedule != "wsd" or run.world > 1:
        return
    if any((run.run_dir / name).exists() for name in ("last.pt", "previous.pt")):
        return
    points = [(_branch_point(run, Path(source)), Path(source)) for source in sources]
    points = [(point, source) for point, source in points if point is not None]
    if not points:
        return
    point, source = max(points, key=lambda found: found[0])
    saved = load_checkpoint(source / STABLE)
    files = {run.run_dir / "last.pt": checkpoint_bytes({k: v for k, v in saved.items() if k != "best_model"})}
    if saved["best_model"] is not None:
        best = {"model": saved["best_model"], "model_config": saved["model_config"], **saved["best"]}
        files[run.run_dir / "best.pt"] = checkpoint_bytes(best)
    files[run.run_dir / "log.jsonl"] = (source / "log.jsonl").read_bytes()
    files[run.run_dir / "branch.json"] = json.dumps({"source": source.name, "iteration": point}).encode("utf-8")
    write_atomic(files)
    if says:
        print(f"{run.run_dir.name} starts from the stable phase of {source.name} at iteration {point}")


def _branch_point(run: Run, source: Path) -> int | None:
    """Where `source`'s stable phase ends, when `source` is this run but shorter: the same
    configuration and data but for train.iterations (its run id says so), the same validations up
    to there, and a loss whose behaviour does not depend on the run's length (ESRGAN's GAN phase
    does); else None."""
    try:
        iterations = run_config(source).train.iterations
    except (OSError, ValueError, KeyError):
        return None
    shorter = replace(run.config, train=replace(run.config.train, iterations=iterations))
    point, train = shorter.train.stable_until(), run.config.train
    if not (source / STABLE).is_file() or run.config.loss.name == "esrgan" or point > train.stable_until():
        return None
    if run_dir_for(shorter, source.parent, run.fingerprint).name != source.name:
        return None
    early = {v for v in validation_points(iterations, train.val_every, train.val_early) if v <= point}
    if early != {v for v in validation_points(train.iterations, train.val_every, train.val_early) if v <= point}:
        return None
    return point


def _finish(run: Run, state: TrainState, train_seconds: float) -> Path:
    """done.json (iterations, divergence, the best validation, speed); previous.pt is removed."""
    checksums = [parameters_checksum(run.model)]
    if run.world > 1:
        checksums = [None] * run.world
        dist.all_gather_object(checksums, parameters_checksum(run.model))
    if not run.main:
        return run.run_dir
    total, start, divergence = run.config.train.iterations, state.resumed_from, state.divergence
    end = total if divergence is None else divergence["iteration"] - 1
    if divergence is not None:
        print(
            f"\n{run.run_dir.name}: {divergence['message']}; the run ends there, its best checkpoint was selected before it"
        )
    branch = run.run_dir / "branch.json"
    summary = {
        "iterations": end,
        "diverged": divergence,
        "world_size": run.world,
        "replicas_identical": len(set(checksums)) == 1,
        "best": state.best,
        "train_seconds": train_seconds,
        "resumed_from": start,
        "branched_from": json.loads(branch.read_text(encoding="utf-8")) if branch.is_file() else None,
        "samples_per_s": run.world * (end - start) * run.config.train.batch_size / train_seconds
        if end > start
        else None,
    }
    if run.compiled is not None and run.compiled.failure:  # the run id says compiled; it trained eager
        summary["compile_failed"] = run.compiled.failure
    write_atomic({run.run_dir / "done.json": json.dumps(summary, indent=2).encode("utf-8")})
    (run.run_dir / "previous.pt").unlink(missing_ok=True)  # a finished run resumes from nothing
    return run.run_dir
