"""Split a free-text report into its sections (FINDINGS, IMPRESSION, INDICATION, ...).

Headings vary ("IMPRESSION:", "Impression -", "FINDINGS/IMPRESSION:", "Conclusion:"), so each known
heading is mapped to a canonical section name. Text before the first heading is the `preamble`.
A report without any heading is a single `body` section, which is always labelled: reports
stored one section per CSV column are labelled column by column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_SECTIONS = ("findings", "impression")
BODY = "body"
PREAMBLE = "preamble"

# heading words (lowercase, inner spaces flexible) -> canonical section
HEADINGS: dict[str, str] = {
    "findings": "findings",
    "finding": "findings",
    "findings and impression": "findings",
    "findings/impression": "findings",
    "report": "findings",
    "description": "findings",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "summary": "impression",
    "opinion": "impression",
    "interpretation": "impression",
    "diagnosis": "impression",
    "indication": "indication",
    "indications": "indication",
    "clinical indication": "indication",
    "reason for exam": "indication",
    "reason for examination": "indication",
    "reason for study": "indication",
    "history": "history",
    "clinical history": "history",
    "clinical information": "history",
    "clinical data": "history",
    "comparison": "comparison",
    "comparisons": "comparison",
    "prior": "comparison",
    "technique": "technique",
    "procedure": "technique",
    "examination": "examination",
    "exam": "examination",
    "type of examination": "examination",
    "recommendation": "recommendation",
    "recommendations": "recommendation",
    "notification": "notification",
    "addendum": "addendum",
    "final report": "final_report",
    "wet read": "wet_read",
}

_heading_words = "|".join(
    re.escape(h).replace(r"\ ", r"\s+").replace("/", r"\s*/\s*")
    for h in sorted(HEADINGS, key=len, reverse=True)
)
# A heading starts a line (or the text) and ends with ':' (or '-' after an all-caps heading
# word); "No findings: ..." in the middle of a sentence is not a heading.
HEADING_RE = re.compile(
    rf"(?:^|(?<=\n)|(?<=[.!?]\s))[ \t]*(?P<head>{_heading_words})[ \t]*(?::|\s-\s|\n)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Section:
    name: str
    start: int  # offset of the section text in the report
    text: str


def split_sections(report: str) -> list[Section]:
    """All sections in order. Without any heading the whole report is one `body` section."""
    heads = list(HEADING_RE.finditer(report))
    if not heads:
        return [Section(BODY, 0, report)] if report.strip() else []
    sections = []
    if report[: heads[0].start()].strip():
        sections.append(Section(PREAMBLE, 0, report[: heads[0].start()]))
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(report)
        name = HEADINGS[" ".join(m.group("head").lower().replace("/", " / ").split()).replace(" / ", "/")]
        sections.append(Section(name, m.end(), report[m.end():end]))
    return sections


def select_sections(report: str, wanted: tuple[str, ...] | None = DEFAULT_SECTIONS) -> list[Section]:
    """The sections to label. `wanted=None` keeps everything.

    A report with headings but none of the wanted sections falls back to its preamble (text
    before the first heading), which is where unlabelled findings usually sit; a report without
    headings is labelled whole.
    """
    sections = split_sections(report)
    if wanted is None or not sections or sections[0].name == BODY:
        return sections
    chosen = [s for s in sections if s.name in wanted]
    if not chosen:
        chosen = [s for s in sections if s.name == PREAMBLE]
    return chosen
