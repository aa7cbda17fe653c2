"""Sharing one machine: the cores this process may use, the threads a training takes beside the
other trainings running there, and the lock that keeps two processes off one run folder.

Two trainings that each run one thread per core on the same cores slow each other far more than
twice (bench/train_speed.py --two-processes measures it), so a training whose `train.threads` is
0 (the default) takes its share of the cores it may use: those of its CPU affinity, capped by a
cgroup CPU quota, divided by the live trainings registered on this machine, and follows that share
as trainings start and end. Alone, a training always takes every usable core, so its numbers do not
depend on what else ran; beside another, its last bits can (oneDNN's reductions follow the thread
count), which is why env.json and the log record the threads. A fixed `train.threads` keeps its
count whatever runs beside it.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import socket
import sys
import tempfile
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


class RunLockedError(RuntimeError):
    """Another live process is training the same run folder."""


def cgroup_cpu_quota(root: Path = CGROUP) -> float | None:
    """The CPUs a cgroup CPU quota allows this process (cgroup v2 cpu.max, or v1
    cpu.cfs_quota_us / cpu.cfs_period_us), or None when none is set or none can be read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cores(cgroup: Path = CGROUP) -> int:
    """The cores this process may run on: its CPU affinity (not the host's count), capped by the
    cgroup quota rounded down (1.5 CPUs of quota give 1 thread: a second would wait for quota)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return cores


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def registry_folder() -> Path:
    """Where the live trainings of this user on this machine register (LPSR_TRAININGS overrides)."""
    default = Path(tempfile.gettempdir()) / f"lpsr-trainings-{os.getuid()}"
    return Path(os.environ.get("LPSR_TRAININGS", default))


class MachineShare:
    """This process registered as a training on this machine, with the threads it should run:
    `threads` fixed (> 0) or, with 0, its share of `usable_cores()` among the live trainings.
    A context manager: registered inside `with`, unregistered after (a killed process's entry is
    dropped by the next one that counts)."""

    def __init__(self, threads: int = 0, folder: Path | None = None, cores: int | None = None):
        self.fixed = threads
        self.folder = registry_folder() if folder is None else Path(folder)
        self.cores = usable_cores() if cores is None else cores
        self.entry = self.folder / str(os.getpid())

    def __enter__(self) -> MachineShare:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entry.touch()
        return self

    def __exit__(self, *exc) -> None:
        self.entry.unlink(missing_ok=True)

    def live(self) -> int:
        """The trainings registered here whose process still runs (this one included)."""
        count = 0
        for entry in self.folder.iterdir():
            if not entry.name.isdigit():
                continue
            if int(entry.name) == os.getpid() or _pid_alive(int(entry.name)):
                count += 1
            else:
                entry.unlink(missing_ok=True)
        return max(count, 1)

    def threads(self) -> int:
        if self.fixed > 0:
            return self.fixed
        return max(1, self.cores // self.live())


class RunLock:
    """An exclusive lock on a run folder held while one process trains it: `train.lock` holds the
    owner's pid and host, under an flock the kernel releases when the process ends, so a lock left
    by a dead process is taken over (with a note on stderr) and a live one refuses the second."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "train.lock"
        self.handle = None

    def __enter__(self) -> RunLock:
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise RunLockedError(
                f"{self.path.parent} is being trained by another process (pid and host: {owner}); "
                "wait for it to finish or stop it, then run again"
            ) from None
        handle.seek(0)
        stale = handle.read().strip()
        if stale:
            print(f"lpsr: {self.path}: took over the lock of a process that no longer runs ({stale})", file=sys.stderr)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        self.handle.seek(0)
        self.handle.truncate()  # an empty lock file: released cleanly
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
