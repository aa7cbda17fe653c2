"""Training: one plain loop, a run folder per configuration.

`train(config)` trains the configured model on random aligned patches of the train split,
validates on whole val plates every `val_every` iterations, keeps the best checkpoint by
validation PSNR-Y (the paper selects on test; we select on validation and report test
once), and writes into `runs/<model>-<run id>/`:

    config.yaml     the full configuration          env.json    seed, versions, machine, precision
    log.jsonl       one line per iteration and per validation
    last.pt         everything needed to resume     best.pt     the selected weights
    previous.pt     the checkpoint before last.pt (while the run is unfinished)
    done.json       the final summary (its presence means the run is complete)

The run id hashes the configuration and the data, so asking for a run that exists returns
it without training again, and an interrupted run resumes where its last checkpoint was.
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

import io
import json
import math
import os
import pickle
import platform
import random
import re
import signal
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from lpsr.config import RunConfig, config_from_dict, validate_config
from lpsr.data import PlateProtocol, data_root, load_plates
from lpsr.encoder import preserved_rng
from lpsr.inference import autocast, super_resolve
from lpsr.losses import PECLLoss, TrainingLoss
from lpsr.metrics import psnr_rgb, psnr_y
from lpsr.models import build_model, count_parameters
from lpsr.patches import PlatePatches
from lpsr.precision import CompiledOrEager


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, ...); the last good checkpoint is kept."""


class TrainingStopped(KeyboardInterrupt):
    """Training was stopped by a signal after writing its checkpoint; the same command resumes it.
    `exit_code` is what a shell reports for that signal (128 + its number)."""

    def __init__(self, signum: int, iteration: int, run_dir: Path):
        super().__init__(f"stopped by {signal.Signals(signum).name} at iteration {iteration}; {run_dir / 'last.pt'} holds it: run the same command to resume")
        self.exit_code = 128 + signum


def environment(config: RunConfig, device: torch.device) -> dict:
    import torchvision

    from lpsr import __version__

    return {
        "lpsr": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "device": str(device),
        "cuda": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "seed": config.train.seed,
        "precision": precision_record(config, device),
    }


def precision_record(config: RunConfig, device: torch.device) -> dict:
    """What train.bf16 and train.compile resolved to on `device` and why, with the CPU facts
    the decision rests on (so a run on another machine can be told apart)."""
    from lpsr.precision import BF16_CPU_FLAGS, cpu_flags

    return config.resolved_precision(device) | {
        "bf16_setting": config.train.bf16,
        "compile_setting": config.train.compile,
        "channels_last": config.train.channels_last,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_flags": sorted(set(BF16_CPU_FLAGS) & cpu_flags()),
    }


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def distributed_setup(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under `torchrun` (WORLD_SIZE > 1) this joins the process
    group: NCCL with one GPU per process when CUDA is used, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, pick_device(device_name)
    cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), world, torch.device("cuda", local_rank) if cuda else torch.device("cpu")


def parameters_checksum(module: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() * (i + 1) for i, p in enumerate(module.parameters())))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(iteration: int, total: int, warmup: int, floor: float) -> float:
    """Linear warm-up, then cosine annealing from 1 to `floor` (a fraction of the base lr)."""
    if iteration < warmup:
        return (iteration + 1) / warmup
    progress = (iteration - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def validation_points(total: int, every: int, early: bool) -> set[int]:
    """Iterations after which to validate: every `every`, the last, and with `early` the 1-2-5
    steps below `every` (10, 20, 50, 100, ...), so curves on a log axis have points early."""
    points = set(range(every, total + 1, every)) | {total}
    if early:
        points |= {m * 10**e for e in range(1, 8) for m in (1, 2, 5) if m * 10**e < min(every, total)}
    return points


def write_atomic(files: dict[Path, bytes]) -> None:
    """Write files so that each ends either whole and new or as it was: all are written beside
    their targets as `<name>.tmp` and fsynced (so a power cut cannot leave an empty file), and only
    then renamed over them. On a failure (a full disk, a read-only folder) the temporary files are
    removed and the OSError names the file that could not be written."""
    written: dict[Path, Path] = {}
    current = None
    try:
        for current, data in files.items():
            tmp = current.with_name(current.name + ".tmp")
            with open(tmp, "wb") as out:
                written[current] = tmp
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        for current, tmp in written.items():
            os.replace(tmp, current)
    except OSError as error:
        for tmp in written.values():
            tmp.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(current)) from None


def checkpoint_bytes(state: dict) -> bytes:
    """`state` as `torch.save` writes it, for `write_atomic`."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def validate(model, plates, device, config: RunConfig) -> dict:
    sr = super_resolve(model, plates.lr, device, bf16=config.train.bf16, channels_last=config.train.channels_last)
    return {
        "val_psnr": float(np.median([psnr_rgb(s, h) for s, h in zip(sr, plates.hr)])),
        "val_psnr_y": float(np.median([psnr_y(s, h) for s, h in zip(sr, plates.hr)])),
    }


def prepare_data(config: RunConfig, progress: bool = True):
    """Train and val plates for a configuration, and a fingerprint of them."""
    root = data_root(config.data.root, config.data.synthetic_frames, config.data.synthetic_seed)
    protocol = PlateProtocol(scale=config.model.scale, crop=config.data.crop, kernel=config.data.kernel)
    train_plates = load_plates(root, "train", protocol, progress=progress)
    val_plates = load_plates(root, "val", protocol, progress=progress)
    if config.data.val_plates:
        n = config.data.val_plates
        val_plates = replace(val_plates, hr=val_plates.hr[:n], lr=val_plates.lr[:n], files=val_plates.files[:n], texts=val_plates.texts[:n])
    fingerprint = json.dumps([train_plates.files, val_plates.files, asdict(protocol), str(root)])
    return train_plates, val_plates, fingerprint


def run_dir_for(config: RunConfig, runs_dir: str | Path, fingerprint: str) -> Path:
    return Path(runs_dir) / f"{config.model.name}-{config.loss.name}-{config.run_id(fingerprint)}"



def build_loss(config: RunConfig, root: Path, progress: bool = True, train_plates=None) -> TrainingLoss:
    """The configured loss with the networks it needs: the Siamese encoder of PECL, ESRGAN's
    perceptual encoder and discriminator, TBSRN's plate classifier (`train_plates` feed its
    whole-plate terms). A `plates` encoder is pretrained here on first use, then cached."""
    loss = config.loss
    if loss.name == "mse":
        return PECLLoss(None)
    from lpsr.encoder import build_encoder, plate_encoder_path, pretrain_plate_encoder

    path = loss.encoder_path
    if (loss.encoder_init == "plates" or loss.name == "text") and path is None:
        settings = {"iterations": loss.encoder_iterations, "seed": config.train.seed}
        path = pretrain_plate_encoder(root, plate_encoder_path(root, **settings), progress=progress, **settings)
    if loss.name == "text":
        from lpsr.encoder import load_plate_classifier
        from lpsr.text_focus_loss import TextFocusedLoss

        return TextFocusedLoss(load_plate_classifier(path), train_plates, loss.text_plates)
    encoder = build_encoder(loss.dim, loss.encoder_init, path, trainable=loss.trainable, seed=config.train.seed)
    if loss.name == "esrgan":
        from lpsr.esrgan_loss import ESRGANLoss
        from lpsr.models.esrgan import VGGDiscriminator

        with preserved_rng():
            torch.manual_seed(config.train.seed)
            discriminator = VGGDiscriminator(config.data.patch_size)
        return ESRGANLoss(encoder, discriminator, int(loss.gan_start * config.train.iterations), loss.gan_lr, loss.gan_select)
    return PECLLoss(encoder, loss.distance, loss.reading, loss.margin, loss.weighting, loss.w_pixel)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # a foreign pickle is refused below; torch's note on its protocol adds nothing
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # an empty, truncated or foreign file
        raise TrainingError(f"checkpoint {path} cannot be read: {_unreadable_because(error)}") from None


def _unreadable_because(error: Exception) -> str:
    """torch.load's failure in one line (its own messages run to a paragraph of advice)."""
    if isinstance(error, EOFError):
        return "the file is empty or cut short"
    if isinstance(error, pickle.UnpicklingError):
        refused = re.search(r"GLOBAL ([\w.]+)", str(error))
        return f"it holds a {refused[1]} object, which weights_only loading refuses" if refused else "it is not a PyTorch checkpoint"
    if isinstance(error, PermissionError):
        return "permission denied"
    return f"it is cut short or corrupt ({str(error).split('. ')[0]})"


def _resume_state(run_dir: Path, device: torch.device) -> dict | None:
    """The newest whole checkpoint of an interrupted run: last.pt, else previous.pt (kept for when
    last.pt is missing or unreadable); None for a new run, or when no whole checkpoint is left
    (training starts over). A fallback is named on stderr."""
    problems = []
    for path in (run_dir / "last.pt", run_dir / "previous.pt"):
        try:
            state = load_checkpoint(path, device)
        except (FileNotFoundError, TrainingError) as error:
            problems.append(str(error))
            continue
        if problems:
            print(f"{problems[0]}: resuming from {path.name}", file=sys.stderr)
        return state
    if (run_dir / "last.pt").exists() or (run_dir / "previous.pt").exists():
        print(f"{problems[0]}: no whole checkpoint is left, training starts over", file=sys.stderr)
    return None


def train(config: RunConfig, runs_dir: str | Path = "runs", progress: bool = True, retrain: bool = False) -> Path:
    """Train (or resume, or return the finished run) and return the run folder; a signal stops
    it with `TrainingStopped` once its checkpoint is written."""
    validate_config(config)
    seed_everything(config.train.seed)
    torch.set_num_threads(config.train.threads)
    rank, world, device = distributed_setup(config.train.device)
    precision = config.resolved_precision(device)  # "auto" settings as this device resolves them
    main = rank == 0
    progress = progress and main
    if world > 1 and not main:
        dist.barrier()  # rank 0 prepares the plate cache and the encoder first
    train_plates, val_plates, fingerprint = prepare_data(config, progress)
    loss_fn = build_loss(config, Path(train_plates.summary["root"]), progress, train_plates).to(device)
    if world > 1 and main:
        dist.barrier()
    if loss_fn.encoder is not None:
        fingerprint += json.dumps(loss_fn.encoder.init_info, sort_keys=True)
    run_dir = run_dir_for(config, runs_dir, fingerprint)
    if (run_dir / "done.json").is_file() and not retrain:
        return run_dir
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic({run_dir / "config.yaml": yaml.safe_dump(config.to_dict(), sort_keys=False).encode("utf-8")})

    patches = PlatePatches(train_plates, config.data.patch_size)
    model = build_model(config.model.name, config.model.scale, **config.model.options).to(device)
    if count_parameters(model) == 0:
        raise ValueError(f"{config.model.name} has no parameters to train: evaluate it directly (lpsr eval --model {config.model.name})")
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable_loss = [p for p in loss_fn.parameters() if p.requires_grad]
    groups = [{"params": model.parameters()}] + ([{"params": trainable_loss}] if trainable_loss else [])
    optimizer = torch.optim.Adam(groups, lr=config.train.lr)
    total, warmup = config.train.iterations, config.train.warmup
    floor = config.train.min_lr / config.train.lr

    def factor(i: int) -> float:
        cap = loss_fn.lr_cap(i)  # ESRGAN's GAN phase trains at its own lr
        return lr_factor(i, total, warmup, floor) if cap is None else min(lr_factor(i, total, warmup, floor), cap / config.train.lr)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    generator = torch.Generator().manual_seed(config.train.seed + rank)  # each replica its own patches
    validations = validation_points(total, config.train.val_every, config.train.val_early)
    start, best = 0, {"val_psnr_y": -math.inf, "iteration": 0}
    loss_mean, loss_floor = None, math.inf  # running mean of the loss and its lowest value, for divergence
    divergence = None
    state = None if retrain else _resume_state(run_dir, device)
    if state is not None:
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"], strict=False)  # a frozen encoder is rebuilt, not stored
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generators"][rank])
        torch.set_rng_state(state["torch_rng"])
        start, best = state["iteration"], state["best"]
        loss_mean, loss_floor = state.get("loss_mean"), state.get("loss_floor", math.inf)
        print(f"resuming {run_dir.name} at iteration {start}")
    if main:
        _truncate_log(run_dir / "log.jsonl", start)
        encoder_info = loss_fn.encoder.init_info if loss_fn.encoder is not None else None
        env = environment(config, device) | {"world_size": world, "parameters": count_parameters(model), "encoder": encoder_info, "train_plates": len(patches), "train_plates_skipped": patches.skipped, "val_plates": len(val_plates)}
        write_atomic({run_dir / "env.json": json.dumps(env, indent=2).encode("utf-8")})
    compiled = CompiledOrEager(model) if precision["compile"] else None  # eager, with a warning, if compiling fails
    forward = model if compiled is None else compiled
    if world > 1:
        forward = DistributedDataParallel(forward, device_ids=[device.index] if device.type == "cuda" else None)
    shared_loss_params = [p for p in loss_fn.parameters() if p.requires_grad]

    def checkpoint(iteration: int) -> None:
        generators = [generator.get_state()]
        if world > 1:
            generators = [None] * world
            dist.all_gather_object(generators, generator.get_state())
        if not main:
            return
        last = run_dir / "last.pt"
        data = checkpoint_bytes(
            {
                "model": model.state_dict(),
                "loss": {k: v for k, v in loss_fn.state_dict().items() if config.loss.trainable or not k.startswith("encoder.")},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generators": generators,
                "torch_rng": torch.get_rng_state(),
                "iteration": iteration,
                "best": best,
                "loss_mean": loss_mean,
                "loss_floor": loss_floor,
                "model_config": asdict(config.model),
            }
        )
        if last.is_file():
            os.replace(last, run_dir / "previous.pt")  # the state before stays whole should this write fail
        write_atomic({last: data})

    stop = {"signal": None}
    handlers = {sig: signal.signal(sig, lambda signum, _: stop.update(signal=signum)) for sig in (signal.SIGINT, signal.SIGTERM)}
    log = open(run_dir / "log.jsonl", "a", encoding="utf-8") if main else open(os.devnull, "w")
    started = time.perf_counter()
    bar = tqdm(range(start, total), initial=start, total=total, desc=run_dir.name, disable=not progress, unit="it")
    try:
        model.train()
        for iteration in bar:
            tick = time.perf_counter()
            lr, hr = patches.batch(config.train.batch_size, generator)
            lr, hr = lr.to(device), hr.to(device)
            if config.train.channels_last:
                lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
            data_s = time.perf_counter() - tick
            with autocast(device, precision["bf16"]):
                sr = forward(lr)
                loss, terms = loss_fn(sr.float(), hr, iteration=iteration, model=forward, generator=generator)  # eq. 19 for PECL
            value = loss.item()
            diverged = 0 < loss_floor < math.inf and value > config.train.divergence * loss_floor  # (an uncertainty-weighted loss can go negative)
            if not math.isfinite(value) or diverged:
                why = f"over {config.train.divergence:g} times its lowest running mean {loss_floor:.4g}" if diverged else "non-finite"
                message = f"loss diverged at iteration {iteration + 1}: {value:.4g}, {why} ({', '.join(f'{k}={v:.4g}' for k, v in terms.items())})"
                if diverged and world == 1 and best["iteration"]:
                    divergence = {"iteration": iteration + 1, "message": message}  # a result: the run ends here
                    break
                raise TrainingError(f"{message}; the last good checkpoint is kept in {run_dir / 'last.pt'} and the best in {run_dir / 'best.pt'}")
            loss_mean = value if loss_mean is None else 0.9 * loss_mean + 0.1 * value
            loss_floor = min(loss_floor, loss_mean)
            used_lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:  # DDP averages the model's gradients; the loss's own parameters are averaged here
                for p in shared_loss_params:
                    dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)
            optimizer.step()
            if loss_fn.weights is not None:
                loss_fn.weights.clip_()  # the paper's weights stay in [0, 1]
            terms |= loss_fn.after_step(sr.detach().float(), hr)  # a GAN's discriminator step
            scheduler.step()
            step_s = time.perf_counter() - tick
            record = {
                "iteration": iteration + 1,
                "loss": value,
                **terms,
                "lr": used_lr,
                "samples_per_s": config.train.batch_size / step_s,
                "data_share": data_s / step_s,
            }
            log.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            done = iteration + 1
            if done in validations and main:
                scores = validate(model, val_plates, device, config)
                log.write(json.dumps({"iteration": done, **scores}) + "\n")
                bar.set_postfix(loss=f"{record['loss']:.4f}", val_psnr_y=f"{scores['val_psnr_y']:.2f}")
                if scores["val_psnr_y"] > best["val_psnr_y"] and loss_fn.selectable(done):
                    best = {"iteration": done, **scores}
                    write_atomic({run_dir / "best.pt": checkpoint_bytes({"model": model.state_dict(), "model_config": asdict(config.model), "iteration": done, **scores})})
                log.flush()
            if world > 1:  # every replica stops at the same iteration
                flag = torch.tensor([0 if stop["signal"] is None else int(stop["signal"])], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop["signal"] = int(flag.item()) or None
            if done % config.train.val_every == 0 or done == total or stop["signal"] is not None:
                log.flush()  # the log reaches at least as far as the checkpoint
                checkpoint(done)
            if stop["signal"] is not None:
                raise TrainingStopped(stop["signal"], done, run_dir)
        train_seconds = time.perf_counter() - started
    finally:
        log.close()
        bar.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    checksums = [parameters_checksum(model)]
    if world > 1:
        checksums = [None] * world
        dist.all_gather_object(checksums, parameters_checksum(model))
    if not main:
        return run_dir
    end = total if divergence is None else divergence["iteration"] - 1
    if divergence is not None:
        print(f"\n{run_dir.name}: {divergence['message']}; the run ends there, its best checkpoint was selected before it")
    summary = {
        "iterations": end,
        "diverged": divergence,
        "world_size": world,
        "replicas_identical": len(set(checksums)) == 1,
        "best": best,
        "train_seconds": train_seconds,
        "resumed_from": start,
        "samples_per_s": world * (end - start) * config.train.batch_size / train_seconds if end > start else None,
    }
    if compiled is not None and compiled.failure:  # the run id says compiled; it trained eager
        summary["compile_failed"] = compiled.failure
    write_atomic({run_dir / "done.json": json.dumps(summary, indent=2).encode("utf-8")})
    (run_dir / "previous.pt").unlink(missing_ok=True)  # a finished run resumes from nothing
    return run_dir


def _log_records(path: Path) -> tuple[list[dict], int]:
    """The whole records of a log, and how many lines are torn (a crash mid-write cuts the last short)."""
    records, torn = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("iteration"), int):
            records.append(record)
        else:
            torn += 1
    return records, torn


def _truncate_log(path: Path, iteration: int) -> None:
    """Drop log lines past the checkpoint a run resumes from (they will be written again), and
    lines torn by a crash (named on stderr)."""
    if not path.is_file():
        return
    records, torn = _log_records(path)
    if torn:
        print(f"{path}: dropped {torn} torn line{'s' if torn > 1 else ''} (cut short by a crash)", file=sys.stderr)
    write_atomic({path: "".join(json.dumps(record) + "\n" for record in records if record["iteration"] <= iteration).encode("utf-8")})


def read_log(run_dir: str | Path):
    """The run's log as two lists of dicts: per-iteration records and validations (a line torn
    by a crash is left out)."""
    steps, vals = [], []
    for record in _log_records(Path(run_dir) / "log.jsonl")[0]:
        (vals if "val_psnr_y" in record else steps).append(record)
    return steps, vals


def run_summary(run_dir: str | Path) -> dict:
    """A finished run's `done.json`: iterations, the validation-selected `best`, `diverged`, speed."""
    return json.loads((Path(run_dir) / "done.json").read_text(encoding="utf-8"))


def diverged_at(run_dir: str | Path) -> int | None:
    """The iteration at which a finished run's loss diverged (its end), or None."""
    return (run_summary(run_dir).get("diverged") or {}).get("iteration")


def run_config(run_dir: str | Path) -> RunConfig:
    return config_from_dict(yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")))
