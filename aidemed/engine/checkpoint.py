"""Checkpoints written atomically and loaded without executing pickled code."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from aidemed.data.io import replaced_atomically


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename: a crash leaves the old file."""
    path = Path(path)
    with replaced_atomically(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load tensors, numbers, strings and containers only (`weights_only=True`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # the unpickler met a class or function reference
            raise CheckpointError(f"{path}: refused to load: the checkpoint holds objects other than tensors "
                                  "and plain data, which could run code") from exc
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({str(exc).splitlines()[0]})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({str(exc).splitlines()[0]})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an aidemed checkpoint (top level is {type(state).__name__})")
    return state
