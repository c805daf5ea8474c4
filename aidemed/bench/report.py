"""Writing a stand-alone benchmark's results: JSON for machines, Markdown for people, both with the
exact command and the machine."""

from __future__ import annotations

import json
from pathlib import Path

from aidemed.data.manifest import atomic_write_text


def write_benchmark(out: Path, result: dict, title: str, body: list[str]) -> str:
    """`out`.json gets `result` (which holds `command` and `environment`); `out`.md a header + `body`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    env = result["environment"]
    markdown = "\n".join([
        f"# {title}", "",
        f"Command: `{result['command']}`", "",
        f"Machine: {env['processor']}, {env['threads']} torch threads, torch {env['torch']}, MONAI {env['monai']}.",
        *body, "",
        f"Wall time of the benchmark: {result['wall_seconds']:.0f} s.", "",
    ])
    atomic_write_text(out.with_suffix(".md"), markdown)
    return markdown
