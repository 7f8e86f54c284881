"""Which DICOM attributes the store indexes, at which level, and how query keys name them.

One table (`INDEXED`) says, for every attribute the store keeps in its own columns: its tag,
keyword, VR, the information-model level it belongs to and the SQL column holding it. The
SQLite schema, the QIDO result rows and the matching rules are all generated from it, so an
attribute added here is stored, returned and matchable at once. Computed attributes
(`ModalitiesInStudy`, the `NumberOf…Related…` counts) are listed apart: the store derives them.

Attribute IDs in queries follow PS3.18 §8.3.4: a keyword (`PatientName`) or eight hex digits
(`00100010`); `parse_attribute_id` accepts both and nothing else. This module knows nothing of
SQL execution or HTTP.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword


class Level(IntEnum):
    """Information-model levels, top down (the order matters: lower levels compare greater)."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


@dataclass(frozen=True, slots=True)
class Attribute:
    """A DICOM attribute as a query names it."""

    tag: int
    keyword: str
    vr: str

    @property
    def key(self) -> str:
        """The DICOM JSON key: eight upper-case hex digits."""
        return f"{self.tag:08X}"


@dataclass(frozen=True, slots=True)
class IndexedAttribute:
    """An attribute the store keeps in a column of its level's table."""

    attribute: Attribute
    level: Level
    column: str

    @property
    def tag(self) -> int:
        return self.attribute.tag

    @property
    def keyword(self) -> str:
        return self.attribute.keyword

    @property
    def vr(self) -> str:
        return self.attribute.vr

    @property
    def key(self) -> str:
        return self.attribute.key


#: VRs matched case- and accent-insensitively (a folded copy is stored beside the value).
TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UC", "UT"})
#: VRs where `*` and `?` are wildcards (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs matched by `a-b` ranges.
RANGE_VRS = frozenset({"DA", "TM", "DT"})
#: VRs stored as integers.
INTEGER_VRS = frozenset({"IS", "US", "UL", "SS", "SL", "UV", "SV"})


def attribute(keyword: str) -> Attribute:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return Attribute(tag, keyword, dictionary_VR(tag))


def _indexed(level: Level, *keywords: str) -> tuple[IndexedAttribute, ...]:
    return tuple(IndexedAttribute(attribute(kw), level, _snake(kw)) for kw in keywords)


def _snake(keyword: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", keyword).lower()


INDEXED: tuple[IndexedAttribute, ...] = (
    *_indexed(
        Level.PATIENT,
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
    ),
    *_indexed(
        Level.STUDY,
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyDescription",
        "StudyID",
    ),
    *_indexed(
        Level.SERIES,
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "SeriesTime",
        "BodyPartExamined",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
    ),
    *_indexed(
        Level.INSTANCE,
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
        "ContentDate",
        "ContentTime",
    ),
)

BY_TAG: dict[int, IndexedAttribute] = {item.tag: item for item in INDEXED}

#: The UID attribute that identifies each level's entities.
UID_OF_LEVEL: dict[Level, Attribute] = {
    Level.STUDY: attribute("StudyInstanceUID"),
    Level.SERIES: attribute("SeriesInstanceUID"),
    Level.INSTANCE: attribute("SOPInstanceUID"),
}

# Computed by the store from the levels below.
MODALITIES_IN_STUDY = attribute("ModalitiesInStudy")
STUDY_RELATED_SERIES = attribute("NumberOfStudyRelatedSeries")
STUDY_RELATED_INSTANCES = attribute("NumberOfStudyRelatedInstances")
SERIES_RELATED_INSTANCES = attribute("NumberOfSeriesRelatedInstances")
SPECIFIC_CHARACTER_SET = attribute("SpecificCharacterSet")
RETRIEVE_URL = attribute("RetrieveURL")
INSTANCE_AVAILABILITY = attribute("InstanceAvailability")

COMPUTED: dict[int, tuple[Attribute, Level]] = {
    MODALITIES_IN_STUDY.tag: (MODALITIES_IN_STUDY, Level.STUDY),
    STUDY_RELATED_SERIES.tag: (STUDY_RELATED_SERIES, Level.STUDY),
    STUDY_RELATED_INSTANCES.tag: (STUDY_RELATED_INSTANCES, Level.STUDY),
    SERIES_RELATED_INSTANCES.tag: (SERIES_RELATED_INSTANCES, Level.SERIES),
}


def indexed_at(level: Level) -> tuple[IndexedAttribute, ...]:
    return tuple(item for item in INDEXED if item.level == level)


def level_of(tag: int) -> Level | None:
    """The level whose rows carry `tag` (indexed or computed), or None."""
    if tag in BY_TAG:
        return BY_TAG[tag].level
    if tag in COMPUTED:
        return COMPUTED[tag][1]
    return None


_HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")


def parse_attribute_id(text: str) -> Attribute | None:
    """A keyword (`PatientName`) or eight hex digits (`00100010`) → the attribute; None if it
    names no attribute of the data dictionary (private tags are accepted by number, as UN)."""
    text = text.strip()
    if _HEX_TAG.match(text):
        tag = int(text, 16)
        try:
            return Attribute(tag, keyword_for_tag(tag) or "", dictionary_VR(tag))
        except KeyError:
            return Attribute(tag, "", "UN") if (tag >> 16) % 2 else None
    tag = tag_for_keyword(text)
    if tag is None:
        return None
    return Attribute(tag, text, dictionary_VR(tag))


# -- normalisation shared by indexing and matching --------------------------------------------


def fold(text: str) -> str:
    """Case- and accent-insensitive form: `Müller^Hans` → `muller^hans`."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return stripped.casefold()


def normalise_person_name(text: str) -> str:
    """A PN value without trailing empty components (`Smith^John^^` → `Smith^John`)."""
    groups = [group.rstrip("^ ") for group in text.split("=")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


_NAME_WORD = re.compile(r"[\^= ,]+")


def name_words(text: str) -> str:
    """The folded words of a person name between spaces, for per-word prefix (fuzzy) matching:
    `Müller^Hans` → ` muller hans `."""
    words = [word for word in _NAME_WORD.split(fold(text)) if word]
    return f" {' '.join(words)} " if words else ""
