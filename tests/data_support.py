"""Finding the shared real data (read in place, never copied into the repo) from tests.

    from data_support import require_shared
    busi = require_shared("busi/Dataset_BUSI_with_GT")   # skips when missing; fails when CI=true

The shared data folder is, in order: $AIDEMED_SHARED_DATA, `../shared/data` beside the repository
(the usual layout), `shared/data` inside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def shared_data_dir() -> Path:
    """The shared data folder (it may not exist: use `require_shared` in tests)."""
    env = os.environ.get("AIDEMED_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    candidates = [REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def require_shared(relative: str | Path = "") -> Path:
    """The path of `relative` inside the shared data folder.

    Missing: the test is skipped with the reason, except under CI=true, where it fails.
    """
    path = shared_data_dir() / relative
    if not path.exists():
        reason = (
            f"shared data {relative or '.'} not found at {path} "
            "(set AIDEMED_SHARED_DATA to the shared data folder)"
        )
        if in_ci():
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return path
