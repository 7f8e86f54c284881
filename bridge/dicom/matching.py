"""QIDO-RS matching (PS3.18 §8.3.4, PS3.4 C.2.2.2) translated into SQL conditions.

Rules, per VR of the matched attribute:

* empty value, or `*` alone: universal match (no condition; the attribute is still returned);
  `""` (two double quotes): matches instances where the attribute is empty or absent;
* UI: one UID or a list separated by `\\` or `,`;
* DA, TM, DT: a value or a range `a-b`, `a-`, `-b` (inclusive), several separated by `\\`;
* integers (IS, US, …): a number or a list;
* string VRs: `*` and `?` wildcards on AE, CS, LO, LT, PN, SH, ST, UC, UR, UT; several values
  separated by `\\` (and by `,` for CS and AE: OHIF sends `ModalitiesInStudy=CT,MR`);
  person names and free text (PN, LO, SH, LT, ST, UC, UT) match case- and accent-insensitively
  (`mü*` finds `Müller`); codes (CS, AE) and UIDs match exactly;
* `fuzzymatching=true`: a person name also matches when every word of the query is the
  start of some word of the name (`joh do` finds `Doe^John`), in any case and accents.

A value that does not parse (`StudyDate=2010`, `SeriesNumber=abc`, a wildcard in a UID) is a
`QueryError`. This module builds SQL text and parameters only; it never runs a query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bridge.dicom.attributes import (
    INTEGER_VRS,
    RANGE_VRS,
    TEXT_VRS,
    WILDCARD_VRS,
    IndexedAttribute,
    Level,
    fold,
    name_words,
    normalise_person_name,
)
from bridge.dicom.types import QueryError

#: Table alias of each level in search queries.
ALIAS: dict[Level, str] = {
    Level.PATIENT: "p",
    Level.STUDY: "st",
    Level.SERIES: "se",
    Level.INSTANCE: "i",
}

EMPTY_VALUE = '""'
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^\d{8}$")
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_DT = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?$")
_DT_OFFSET = re.compile(r"[+-]\d{4}$")
_DT_WITH_OFFSET = re.compile(r"^\d+(\.\d+)?[+-]\d{4}$")
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(slots=True)
class Condition:
    """A SQL boolean expression and its parameters."""

    sql: str
    params: list[Any] = field(default_factory=list)


def column(item: IndexedAttribute, suffix: str = "") -> str:
    return f"{ALIAS[item.level]}.{item.column}{suffix}"


def condition_for(item: IndexedAttribute, value: str, fuzzy: bool = False) -> Condition | None:
    """The condition matching `item` against a query `value`; None for a universal match."""
    return value_condition(item.vr, column(item), value, fuzzy, name=item.keyword)


def value_condition(
    vr: str, target: str, value: str, fuzzy: bool = False, *, name: str = "value"
) -> Condition | None:
    """Like `condition_for`, for any column `target` holding values of `vr` (its folded and
    word forms, when the VR has them, are `{target}_fold` and `{target}_words`)."""
    value = value.strip()
    if value == "" or (value == "*" and vr in WILDCARD_VRS):
        return None
    if value == EMPTY_VALUE:
        return Condition(f"({target} IS NULL OR {target} = '')")
    if vr == "UI":
        return _uid_list(target, value, name)
    if vr in RANGE_VRS:
        return _any_of([_range(vr, target, part, name) for part in value.split("\\")])
    if vr in INTEGER_VRS:
        return _integers(target, value, name)
    separators = r"[\\,]" if vr in ("CS", "AE") else r"\\"
    parts = [part for part in re.split(separators, value) if part != ""]
    if not parts:
        return None
    return _any_of([_string(vr, target, part, fuzzy) for part in parts])


def _any_of(conditions: list[Condition]) -> Condition:
    if len(conditions) == 1:
        return conditions[0]
    sql = " OR ".join(f"({c.sql})" for c in conditions)
    return Condition(f"({sql})", [p for c in conditions for p in c.params])


def _uid_list(target: str, value: str, name: str) -> Condition:
    uids = [uid.strip() for uid in re.split(r"[\\,]", value) if uid.strip()]
    for uid in uids:
        if len(uid) > 64 or not _UID.match(uid):
            raise QueryError(f"{name}: {uid!r} is not a UID (digits and dots, at most 64)")
    if len(uids) == 1:
        return Condition(f"{target} = ?", uids)
    return Condition(f"{target} IN ({', '.join('?' * len(uids))})", uids)


def _integers(target: str, value: str, name: str) -> Condition:
    parts = [part.strip() for part in re.split(r"[\\,]", value) if part.strip()]
    if not parts or not all(_INTEGER.match(part) for part in parts):
        raise QueryError(f"{name}: {value!r} is not an integer or a list of integers")
    numbers = [int(part) for part in parts]
    if len(numbers) == 1:
        return Condition(f"{target} = ?", numbers)
    return Condition(f"{target} IN ({', '.join('?' * len(numbers))})", numbers)


def _temporal(vr: str, text: str, name: str) -> str:
    """A DA/TM/DT query value, validated, in the stored form (no `:` or `-` separators)."""
    text = text.strip()
    if vr == "TM":
        text = text.replace(":", "")
        pattern = _TM
    elif vr == "DT":
        text = _DT_OFFSET.sub("", text)
        pattern = _DT
    else:
        pattern = _DA
    if not pattern.match(text):
        expected = {"DA": "YYYYMMDD", "TM": "HHMMSS.FFFFFF", "DT": "YYYYMMDDHHMMSS.FFFFFF"}[vr]
        raise QueryError(f"{name}: {text!r} is not a {vr} value ({expected})")
    return text


def _range(vr: str, target: str, text: str, name: str) -> Condition:
    """`a-b`, `a-`, `-b` or a single value. A single DA matches that day; a single TM or DT
    is a prefix (`1015` is every time within 10:15)."""
    if "-" not in text or (vr == "DT" and _DT_WITH_OFFSET.match(text.strip())):
        low_text = high_text = text
    else:
        low_text, _, high_text = text.partition("-")
        if not low_text.strip() and not high_text.strip():
            raise QueryError(f"{name}: {text!r} is not a range (a-b, a- or -b)")
    if low_text is high_text and vr == "DA":
        return Condition(f"{target} = ?", [_temporal(vr, text, name)])
    parts: list[str] = []
    params: list[Any] = []
    if low_text.strip():
        parts.append(f"{target} >= ?")
        params.append(_temporal(vr, low_text, name))
    if high_text.strip():
        # An upper bound given to the minute (`1015`) includes every second of that minute.
        parts.append(f"{target} <= ?")
        params.append(_temporal(vr, high_text, name) + ("" if vr == "DA" else "\uffff"))
    return Condition(" AND ".join(parts), params)


def glob_pattern(text: str) -> str:
    """A query pattern with `*`/`?` as SQLite GLOB text (`[` escaped)."""
    return text.replace("[", "[[]")


def _string(vr: str, target: str, text: str, fuzzy: bool) -> Condition:
    wildcard = vr in WILDCARD_VRS and ("*" in text or "?" in text)
    if vr == "PN":
        text = normalise_person_name(text) if not wildcard else text
    if vr in TEXT_VRS:
        target, text = f"{target}_fold", fold(text)
    if wildcard:
        condition = Condition(f"{target} GLOB ?", [glob_pattern(text)])
    else:
        condition = Condition(f"{target} = ?", [text])
    if vr == "PN" and fuzzy and not wildcard:
        words = name_words(text).split()
        if words:
            base = target[: -len("_fold")]
            fuzzy_sql = " AND ".join(f"{base}_words GLOB ?" for _ in words)
            condition = Condition(
                f"({condition.sql} OR ({fuzzy_sql}))",
                [*condition.params, *(f"* {glob_pattern(word)}*" for word in words)],
            )
    return condition
