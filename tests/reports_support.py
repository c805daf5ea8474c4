"""Shared helpers for the report labeler tests (kept out of conftest.py, which is shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IU_REPORTS = Path(os.environ.get("AIDEMED_IU_REPORTS", REPO.parent / "shared" / "data" / "iu_xray" / "reports_dev.csv"))


def require_iu_reports() -> Path:
    """The IU X-ray development reports; skip when absent, but fail under CI=true."""
    if IU_REPORTS.is_file():
        return IU_REPORTS
    message = f"IU X-ray reports not found at {IU_REPORTS} (set AIDEMED_IU_REPORTS to its path)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
