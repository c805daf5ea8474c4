"""Streaming CSV in, labels out: constant memory, rows aligned, optionally on several cores.

Each input row gives exactly one output row, in input order. A row whose text is empty or missing
gives a blank row. Undecodable bytes are replaced (U+FFFD) and counted; a malformed CSV raises a
`DataError` naming the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import multiprocessing
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aidemed.data.io import DataError
from aidemed.reports.labeler import ReportLabeler
from aidemed.reports.sections import DEFAULT_SECTIONS

FORMATS = ("chexpert", "graded", "jsonl")
DEFAULT_TEXT_COLUMNS = ("report", "text", "report_text")
CHUNK_ROWS = 1000
# A report of several megabytes is legitimate input; the csv module's default cap is 128 KiB.
FIELD_SIZE_LIMIT = 1 << 30


@dataclass
class ReadStats:
    rows: int = 0
    replaced_bytes: int = 0


class _CountingReplace:
    """A codec error handler that replaces undecodable bytes and counts them."""

    def __init__(self, stats: ReadStats):
        self.stats = stats
        self.name = f"aidemed-reports-replace-{id(self)}"
        codecs.register_error(self.name, self)

    def __call__(self, exc: UnicodeDecodeError):
        self.stats.replaced_bytes += exc.end - exc.start
        return "\ufffd", exc.end


@dataclass(frozen=True)
class ReportRow:
    line: int  # line of the CSV where the row ends (1-based, header is line 1)
    row_id: str
    texts: tuple[str, ...]


def iter_report_rows(
    path: str | Path,
    text_columns: tuple[str, ...] = (),
    id_column: str | None = None,
    stats: ReadStats | None = None,
) -> tuple[tuple[str, ...], Iterator[ReportRow]]:
    """Open a CSV of reports; return the text columns used and a lazy iterator of rows."""
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    handler = _CountingReplace(stats)
    handle = open(path, encoding="utf-8-sig", errors=handler.name, newline="")
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise DataError(f"{path}: empty file, expected a header row") from None
    except csv.Error as exc:
        handle.close()
        raise DataError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from None
    columns = _text_columns(path, header, text_columns)
    text_idx = [header.index(c) for c in columns]
    if id_column is not None and id_column not in header:
        handle.close()
        raise DataError(f"{path}: no id column {id_column!r}; columns are {header}")
    id_idx = header.index(id_column) if id_column is not None else None

    def rows() -> Iterator[ReportRow]:
        with handle:
            n = 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise DataError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from None
                if not fields:
                    continue  # a blank line is not a record
                if len(fields) != len(header):
                    raise DataError(
                        f"{path} line {reader.line_num}: expected {len(header)} fields, found {len(fields)}"
                    )
                n += 1
                stats.rows = n
                row_id = fields[id_idx] if id_idx is not None else str(n)
                yield ReportRow(reader.line_num, row_id, tuple([fields[i] for i in text_idx]))

    return columns, rows()


def _text_columns(path: Path, header: list[str], wanted: tuple[str, ...]) -> tuple[str, ...]:
    if wanted:
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DataError(f"{path}: no column {', '.join(map(repr, missing))}; columns are {header}")
        return tuple(wanted)
    for name in DEFAULT_TEXT_COLUMNS:
        if name in header:
            return (name,)
    if len(header) == 1:
        return (header[0],)
    raise DataError(f"{path}: which column holds the report? pass --text-col (columns are {header})")


class RowFormatter:
    """Formats one labelled row in the chosen output format."""

    def __init__(self, labeler: ReportLabeler, fmt: str, id_name: str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        self.fmt = fmt
        self.id_name = id_name
        self.columns = labeler.vocab.columns

    def header(self) -> str | None:
        if self.fmt == "jsonl":
            return None
        return _csv_line([self.id_name, *self.columns])

    def format(self, row_id: str, result) -> str:
        # Label and score fields never need quoting; only the id may.
        if self.fmt == "chexpert":
            labels = result.labels
            fields = ["" if labels[c] is None else _LABEL_TEXT[labels[c]] for c in self.columns]
            return _csv_field(row_id) + "," + ",".join(fields) + "\n"
        if self.fmt == "graded":
            scores = result.scores
            fields = ["" if scores[c] is None else f"{scores[c]:.4g}" for c in self.columns]
            return _csv_field(row_id) + "," + ",".join(fields) + "\n"
        return json.dumps({self.id_name: row_id, **result.as_dict()}, ensure_ascii=False) + "\n"


_LABEL_TEXT = {1: "1", 0: "0", -1: "-1"}
_NEEDS_QUOTES = re.compile(r'[",\r\n]|^\s|\s$')


def _csv_field(value: str) -> str:
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_line(fields: list[str]) -> str:
    return ",".join(_csv_field(f) for f in fields) + "\n"


def _as_report(columns: tuple[str, ...], texts: tuple[str, ...]):
    # One column is a free-text report (split into sections); several are sections already.
    if len(texts) == 1:
        return texts[0]
    return dict(zip(columns, texts))


# ---------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(vocabulary, sections, fmt, id_name, columns) -> None:
    labeler = ReportLabeler(vocabulary, sections=sections, evidence=(fmt == "jsonl"))
    _WORKER.update(labeler=labeler, formatter=RowFormatter(labeler, fmt, id_name), columns=columns)


def _label_chunk(chunk: list[tuple[str, tuple[str, ...]]]) -> str:
    labeler, formatter, columns = _WORKER["labeler"], _WORKER["formatter"], _WORKER["columns"]
    return "".join(formatter.format(row_id, labeler.label(_as_report(columns, texts))) for row_id, texts in chunk)


def _chunks(rows: Iterable[ReportRow], size: int) -> Iterator[list[tuple[str, tuple[str, ...]]]]:
    it = iter(rows)
    while True:
        chunk = [(r.row_id, r.texts) for r in itertools.islice(it, size)]
        if not chunk:
            return
        yield chunk


def label_csv(
    input_path: str | Path,
    output,
    text_columns: tuple[str, ...] = (),
    fmt: str = "chexpert",
    vocabulary="chexpert",
    sections: tuple[str, ...] | None = DEFAULT_SECTIONS,
    id_column: str | None = None,
    jobs: int = 1,
    chunk_rows: int = CHUNK_ROWS,
) -> ReadStats:
    """Label every row of `input_path` into the text stream `output`; returns what was read.

    With `jobs > 1`, chunks of rows are labelled by worker processes; at most `2 * jobs` chunks
    are in flight, so memory stays constant however long the file is.
    """
    stats = ReadStats()
    columns, rows = iter_report_rows(input_path, text_columns, id_column, stats)
    id_name = id_column or "row"
    init_args = (vocabulary, sections, fmt, id_name, columns)
    _init_worker(*init_args)  # also validates the vocabulary before any worker starts
    header = _WORKER["formatter"].header()
    if header:
        output.write(header)
    chunks = _chunks(rows, chunk_rows)
    jobs = (os.cpu_count() or 1) if jobs == 0 else max(1, jobs)
    if jobs == 1:
        for chunk in chunks:
            output.write(_label_chunk(chunk))
        return stats
    # Forked workers inherit the labeler built above; spawned ones build their own.
    forking = sys.platform.startswith("linux")
    ctx = multiprocessing.get_context("fork" if forking else "spawn")
    pool_args = {} if forking else {"initializer": _init_worker, "initargs": init_args}
    with ctx.Pool(jobs, **pool_args) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_label_chunk, (chunk,)))
            if len(pending) >= 2 * jobs:
                output.write(pending.popleft().get())
        while pending:
            output.write(pending.popleft().get())
    return stats
