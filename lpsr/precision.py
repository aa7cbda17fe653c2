"""Precision and compilation: what `train.bf16` and `train.compile` resolve to here, and why.

`train.bf16` takes `auto`, `true` or `false`; `auto` is decided by what the hardware can do,
never by a default tuned to one machine:

- On a CPU, bf16 autocast pays only where the CPU computes bf16 natively (AVX-512-bf16 or AMX).
  Elsewhere (an AVX2-only CPU) PyTorch emulates bf16 and the same training runs many times slower
  than in fp32, so `auto` means fp32 there.
- On a GPU, `auto` means fp32 (which cuDNN computes as TF32 on Ampere and later): the paper's
  network is small (2M parameters on 8x8 inputs), so a training step there is bound by kernel
  launches and host work, not arithmetic, and bf16 autocast only adds cast kernels (the README
  gives what bench/train_speed.py --device cuda measured); `train.bf16=true` still forces it.
- `train.compile` (true or false) wraps the model in torch.compile, falling back to eager with a
  warning when compiling fails; it is off by default (see `resolve_compile`).

The resolved choices and their reasons go into a run's env.json; the run id keys on the resolved
precision, since bf16 and fp32 give different numbers.

`train.cpu_kernels` (native or avx2) says which of the CPU's kernels torch, oneDNN and MKL use:
`avx2` trains on an AVX-512 CPU as an AVX2-only CPU would, which measures how far the numbers of
two machines part (chapter 7). The kernels are fixed when torch loads, so such a run trains in a
child process started with `CPU_KERNEL_ENV` (`lpsr.training.train`).
"""

from __future__ import annotations

import functools
import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

# /proc/cpuinfo flags of x86 CPUs that compute bf16 natively (oneDNN's bf16 convolutions and
# matrix products use them; without them bf16 is emulated)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


# the environment under which torch, oneDNN and MKL use a CPU's kernels of one instruction set
# (read once, when torch loads): "native" is whatever this process was started with
CPU_KERNEL_ENV = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def runs_cpu_kernels(kernels: str) -> bool:
    """Whether this process computes with `kernels` (a key of CPU_KERNEL_ENV): its environment set
    them before torch loaded."""
    return all(os.environ.get(name) == value for name, value in CPU_KERNEL_ENV[kernels].items())


def has_avx512_kernels() -> bool:
    """Whether torch runs AVX-512 kernels here, so that `train.cpu_kernels=avx2` trains differently."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def as_device(device: str | torch.device) -> torch.device:
    """`auto` as the training loop reads it (CUDA when present, else CPU), or the device named."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def native_bf16(device: str | torch.device = "auto") -> tuple[bool, str]:
    """(whether `device` computes bf16 natively, why)."""
    device = as_device(device)
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        name = torch.cuda.get_device_name(device)
        return native, f"{name} {'computes bf16 natively' if native else 'has no native bf16'}"
    if device.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        found = sorted(set(BF16_CPU_FLAGS) & cpu_flags())
        # both: the CPU has the instructions and torch's own kernels use the AVX-512 code path
        # (ATEN_CPU_CAPABILITY=avx2 on such a CPU makes the element-wise bf16 work slow again)
        if found and capability.startswith("AVX512"):
            return True, f"CPU has {' and '.join(found)} (torch CPU capability {capability})"
        if found:
            return False, f"CPU has {' and '.join(found)} but torch runs its {capability} kernels"
        return False, f"CPU has no avx512_bf16 or amx_bf16 (torch CPU capability {capability}): bf16 would be emulated"
    return False, f"no bf16 detection for {device.type} devices"


def resolve_bf16(setting, device: str | torch.device = "auto") -> tuple[bool, str]:
    """(bf16 autocast on or off, why) for a `train.bf16` setting (auto, true or false) on `device`."""
    if not (isinstance(setting, bool) or setting == "auto"):
        raise ValueError(f"train.bf16 must be auto, true or false, got {setting!r}")
    if setting == "auto" and as_device(device).type == "cuda":
        return False, "auto: fp32 on a GPU, where this engine's step is bound by kernel launches, not arithmetic"
    native, why = native_bf16(device)
    if setting == "auto":
        return native, f"auto: {why}"
    if setting and not native:
        return True, f"set true, although {why} (expect it to be slower than fp32)"
    return setting, "set true" if setting else "set false"


def resolve_compile(setting) -> tuple[bool, str]:
    """(torch.compile the model or not, why) for a `train.compile` setting. Off unless asked for:
    on a CPU the compiled training step is at best a few per cent faster (the convolutions, which
    take most of the step, stay oneDNN calls; only the element-wise work around them is fused),
    which does not repay the compile time within a `cpu`-profile run (bench/train_speed.py)."""
    if not isinstance(setting, bool):
        raise ValueError(f"train.compile must be true or false, got {setting!r}")
    return (
        setting,
        "set true"
        if setting
        else "off unless set (on a CPU it does not repay its compile time within a cpu-profile run)",
    )


class CompiledOrEager(nn.Module):
    """`torch.compile(model)`, falling back to `model` itself, with a one-line warning, when
    compiling fails (no working C++ compiler, an operation Inductor cannot lower). Compilation
    happens at the first call, so that is where a failure shows. The compiled module is held
    outside the module tree: `model`'s parameters and state dict are this module's, once."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.__dict__["compiled"] = torch.compile(model)
        self.failure: str | None = None

    def forward(self, *args, **kwargs):
        compiled = self.__dict__["compiled"]
        if compiled is None:
            return self.model(*args, **kwargs)
        try:
            return compiled(*args, **kwargs)
        except Exception as error:  # torch raises many kinds here; any of them means: run eager
            self.failure = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"
            warnings.warn(
                f"torch.compile failed, training eager instead ({self.failure})", RuntimeWarning, stacklevel=2
            )
            self.__dict__["compiled"] = None
            return self.model(*args, **kwargs)


@contextmanager
def reproducible_fp32(threads: int):
    """A block computed in plain fp32 on the CPU with every in-process setting that changes its
    bits pinned: no autocast, full-precision fp32 matrix products (no bf16/tf32 shortcuts on
    AMX CPUs), deterministic algorithms, and a fixed thread count (oneDNN's convolution backward
    sums per-thread partial results, so its bits depend on the thread count). The caller's
    settings are restored after. What stays machine-dependent is the instruction set: oneDNN's
    AVX2 and AVX-512 kernels accumulate in different orders (see lpsr.training.encoder_pretraining.pretrain_plate_encoder)."""
    previous = (
        torch.get_num_threads(),
        torch.get_float32_matmul_precision(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.mkldnn.deterministic,
    )
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True)
    torch.backends.mkldnn.deterministic = True
    try:
        with torch.autocast("cpu", enabled=False):
            yield
    finally:
        torch.set_num_threads(previous[0])
        torch.set_float32_matmul_precision(previous[1])
        torch.use_deterministic_algorithms(previous[2], warn_only=previous[3])
        torch.backends.mkldnn.deterministic = previous[4]
