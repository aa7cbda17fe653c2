"""Run folders: where a configuration's run lives and what it records.

`runs/<model>-<loss>-<run id>/` holds `config.yaml`, `env.json` (seed, versions, machine,
resolved precision), `log.jsonl` (one line per iteration and per validation), the checkpoints
and, once finished, `done.json`. The functions here name a run's folder and read what a run
wrote; `lpsr.training.train` writes it.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torchvision
import yaml

from lpsr.config import RunConfig, config_from_dict
from lpsr.files import write_atomic
from lpsr.precision import BF16_CPU_FLAGS, cpu_flags
from lpsr.training.sharing import RunLock, RunLockedError


def environment(config: RunConfig, device: torch.device) -> dict:
    return {
        "lpsr": version("lpsr"),
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
    return config.resolved_precision(device) | {
        "bf16_setting": config.train.bf16,
        "compile_setting": config.train.compile,
        "channels_last": config.train.channels_last,
        "cpu_kernels_setting": config.train.cpu_kernels,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_flags": sorted(set(BF16_CPU_FLAGS) & cpu_flags()),
    }


def run_dir_for(config: RunConfig, runs_dir: str | Path, fingerprint: str, legacy: bool = False) -> Path:
    """The run folder of `config` on the data `fingerprint` (`legacy`: as named before run ids
    hashed only the settings that differ from their defaults)."""
    run_id = config.legacy_run_id(fingerprint) if legacy else config.run_id(fingerprint)
    return Path(runs_dir) / f"{config.model.name}-{config.loss.name}-{run_id}"


def renamed_legacy_run(config: RunConfig, runs_dir: str | Path, fingerprint: str) -> str | None:
    """Rename the folder of this run made under the earlier run-id rule, if there is one and no
    folder of the current id, to the current id (one rename: the run resumes or is found finished
    there); what was renamed, or None."""
    current, legacy = run_dir_for(config, runs_dir, fingerprint), run_dir_for(config, runs_dir, fingerprint, True)
    if current.exists() or legacy == current or not legacy.is_dir():
        return None
    try:
        with RunLock(legacy):  # not while another process trains it
            pass
        legacy.rename(current)
    except (RunLockedError, OSError):  # trained elsewhere now, renamed first by another process, or not ours
        return None
    return f"{legacy.name} -> {current.name}"


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


def truncate_log(path: Path, iteration: int) -> None:
    """Drop log lines past the checkpoint a run resumes from (they will be written again), and
    lines torn by a crash (named on stderr)."""
    if not path.is_file():
        return
    records, torn = _log_records(path)
    if torn:
        print(f"{path}: dropped {torn} torn line{'s' if torn > 1 else ''} (cut short by a crash)", file=sys.stderr)
    write_atomic(
        {
            path: "".join(json.dumps(record) + "\n" for record in records if record["iteration"] <= iteration).encode(
                "utf-8"
            )
        }
    )


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
