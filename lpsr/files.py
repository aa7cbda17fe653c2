"""Files every layer writes and reads: atomic writes (fsync, then rename), checkpoints and
released weights.

`write_atomic` leaves each target either whole and new or as it was, so a crash, a full disk or
a power cut never leaves a torn result; `load_checkpoint` reads a `torch.save` file with
`weights_only=True` and names in one line why a file cannot be read; `load_weights` does the same
for a safetensors file (tensors and their string metadata, no code).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (empty, cut short, foreign or refused)."""


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


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # a foreign pickle is refused below; torch's note on its protocol adds nothing
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # an empty, truncated or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be read: {_unreadable_because(error)}") from None


def weights_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """`tensors` and `metadata` as a safetensors file, for `write_atomic`."""
    return save_safetensors({name: t.contiguous() for name, t in tensors.items()}, metadata=metadata)


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a safetensors file; a CheckpointError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    data = path.read_bytes()
    try:
        tensors = load_safetensors(data)
        header_size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
    except (SafetensorError, ValueError, json.JSONDecodeError) as error:
        reason = "the file is empty or cut short" if len(data) < 8 else f"it is not a safetensors file ({error})"
        raise CheckpointError(f"weights file {path} cannot be read: {reason}") from None
    return tensors, metadata


def _unreadable_because(error: Exception) -> str:
    """torch.load's failure in one line (its own messages run to a paragraph of advice)."""
    if isinstance(error, EOFError):
        return "the file is empty or cut short"
    if isinstance(error, pickle.UnpicklingError):
        refused = re.search(r"GLOBAL ([\w.]+)", str(error))
        return (
            f"it holds a {refused[1]} object, which weights_only loading refuses"
            if refused
            else "it is not a PyTorch checkpoint"
        )
    if isinstance(error, PermissionError):
        return "permission denied"
    return f"it is cut short or corrupt ({str(error).split('. ')[0]})"
