"""A tiny phrase language for vocabularies and cue lists, compiled into one fast regex.

Phrases are written in lowercase and matched against lowercased text:

- a space matches any run of whitespace or hyphens (``air space`` matches "air  space", "air-space");
- ``~`` matches an optional space or hyphen (``air~space`` also matches "airspace");
- ``*`` at the end of a word matches any word ending (``opacit*`` matches "opacity", "opacities");
- any other character is literal;
- a phrase starting with ``re:`` is a raw Python regular expression, matched at a word start (use
  sparingly: it cannot be merged into the prefix tree below).

Why a prefix tree: Python's ``re`` tries alternatives one after the other, so an alternation of
300 phrases costs 300 failed comparisons at every word start. Merging the phrases into a trie
(``p(?:leural (?:effusion|thickening)|neumo...)``) makes a failed word cost one or two
comparisons, which is what keeps the labeler at tens of thousands of reports per second.
"""

from __future__ import annotations

import re

SPACE = "\x00sp"  # atoms that are not literal characters
JOINER = "\x00opt"
STEM = "\x00stem"
END = "\x00end"

_ATOM_REGEX = {SPACE: r"[\s\-]+", JOINER: r"[\s\-]?", STEM: r"\w*"}
RAW_PREFIX = "re:"


class PhraseError(ValueError):
    """A phrase that cannot be compiled; the message names the phrase."""


def atoms(phrase: str) -> tuple[str, ...]:
    """Split a phrase of the mini-language into atoms: literal characters or the special atoms."""
    phrase = " ".join(phrase.strip().lower().split())
    if not phrase:
        raise PhraseError("empty phrase")
    out: list[str] = []
    for ch in phrase:
        if ch == " ":
            out.append(SPACE)
        elif ch == "~":
            out.append(JOINER)
        elif ch == "*":
            out.append(STEM)
        else:
            out.append(ch)
    return tuple(out)


def phrase_regex(phrase: str) -> str:
    """The regex of one phrase (word-bounded), for exact re-matching of a hit."""
    if phrase.startswith(RAW_PREFIX):
        return f"(?:{phrase[len(RAW_PREFIX):]})"
    parts = [_ATOM_REGEX.get(a, re.escape(a)) for a in atoms(phrase)]
    tail = "" if parts[-1] == _ATOM_REGEX[STEM] else r"\b"
    return r"\b" + "".join(parts) + tail


def _trie_insert(trie: dict, seq: tuple[str, ...]) -> None:
    node = trie
    for atom in seq:
        node = node.setdefault(atom, {})
    node[END] = {}


def _trie_regex(node: dict) -> str:
    """Alternation of a trie node's children; continuations are tried before stopping here,
    so the longest phrase wins at a given start position."""
    branches = []
    stops = END in node
    for atom, child in node.items():
        if atom == END:
            continue
        piece = _ATOM_REGEX.get(atom, re.escape(atom))
        rest = _trie_regex(child)
        branches.append(piece + rest)
    if stops:
        # Phrases ending in a stem are bounded by the stem itself; others need a word boundary.
        branches.append(r"\b")
    if not branches:
        return ""
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def trie_regex(phrases: list[str], raw_groups: bool = False) -> str:
    """One regex matching any phrase at a word start: the plain phrases as a trie, then the raw
    ones. With `raw_groups`, raw phrase i is captured as group ``r{i}`` (to tell them apart)."""
    trie: dict = {}
    raws = []
    for phrase in phrases:
        if phrase.startswith(RAW_PREFIX):
            raws.append(phrase[len(RAW_PREFIX):])
        else:
            _trie_insert(trie, atoms(phrase))
    branches = [f"(?P<r{i}>{r})" if raw_groups else f"(?:{r})" for i, r in enumerate(raws)]
    if trie:
        branches.append(_fix_stem_ends(_trie_regex(trie)))
    if not branches:
        return ""
    # Every phrase starts at a word boundary, checked once here rather than in each branch.
    return r"\b(?:" + "|".join(branches) + ")"


def _fix_stem_ends(regex: str) -> str:
    # `\w*` followed by `\b` is redundant but harmless; drop it to keep the pattern small.
    return regex.replace(r"\w*\b", r"\w*")


def compile_alternation(phrases: list[str]) -> re.Pattern:
    """Compile phrases (raw ones first, then the trie of plain ones) into a single pattern."""
    pattern = trie_regex(phrases)
    if not pattern:
        return re.compile(r"(?!x)x")  # matches nothing
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise PhraseError(f"cannot compile phrases: {exc}") from exc


def compile_phrase(phrase: str) -> re.Pattern:
    try:
        return re.compile(phrase_regex(phrase))
    except re.error as exc:
        raise PhraseError(f"phrase {phrase!r}: {exc}") from exc
