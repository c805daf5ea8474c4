"""The per-epoch metrics log of a run: metrics.jsonl and metrics.csv, rewritten whole each epoch so
that a resumed run never holds duplicate rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from aidemed.data.manifest import atomic_write_text


def write_history(run_dir: Path, history: list[dict]) -> None:
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
    columns = sorted({key for row in history for key in row}, key=lambda k: (k != "epoch", k))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", buffer.getvalue())
