"""Seeding: every random generator from one seed, and blocks that leave the global RNG alone."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def deterministic_cuda() -> None:
    """Put cuDNN and cuBLAS on deterministic algorithms, so that one seed gives one set of numbers
    on a GPU as it does on a CPU: no cuDNN autotuning (it picks kernels by timing, which differ
    run to run), deterministic cuDNN kernels, and the fixed cuBLAS workspace that CUDA asks for
    (read when cuBLAS first starts in the process). bench/train_speed.py --device cuda
    --cudnn-benchmark measures what this costs."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


@contextmanager
def preserved_rng():
    """Run a block without changing Python's, NumPy's or torch's (CPU and CUDA) global RNG state."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
