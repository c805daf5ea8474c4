"""Writing a whole dataset folder so that nothing is ever half-written.

Everything is written into a hidden staging folder beside the target; only when the writer
succeeds does it replace the target (the old folder is kept until the swap has worked). A failure
removes the staging folder and leaves any existing target untouched.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from aidemed.data.io import DataError


def check_output_folder(out_dir: Path, force: bool, source: Path | None = None) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DataError(f"{out_dir}: exists and is not a folder")
        if any(out_dir.iterdir()) and not force:
            raise DataError(f"{out_dir}: already exists and is not empty; use --force (force=True) to replace it")
    if source is not None and out_dir.resolve() in (source.resolve(), *source.resolve().parents):
        raise DataError(f"{out_dir}: the output folder must not be the source folder or contain it")


@contextmanager
def staged_folder(out_dir: str | Path, force: bool = False, source: Path | None = None, purpose: str = "writing"):
    """Yield a fresh staging folder; on normal exit it becomes `out_dir`."""
    out_dir = Path(out_dir).expanduser()
    check_output_folder(out_dir, force, source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.{purpose}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
        replace_folder(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_folder(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    backup = target.parent / f".{target.name}.old-{os.getpid()}"
    os.replace(target, backup)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
