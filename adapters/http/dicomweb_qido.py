"""QIDO-RS: `/studies`, `/series`, `/instances` and the study/series-scoped searches.

The query string becomes a `QidoQuery` here (PS3.18 §8.3.4): attribute IDs as keywords or
tags, `includefield` repeated or comma-separated (`all` too), `fuzzymatching`, `limit` and
`offset`; matching itself is the store's. Keys this server cannot use (unknown names,
sequence paths, `emptyvaluematching`) are ignored with a `Warning: 299` header, as PS3.18
§8.3.4.5-6 asks; values that do not parse are a 400. An empty result is `200 []` (PS3.18
2026a §11.9.3 — both OHIF and dicomweb-client also take 204).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydicom.datadict import keyword_dict

from adapters.http.dicomweb_accept import negotiate_json, parse_accept
from adapters.http.dicomweb_common import (
    Target,
    absolute_urls,
    base_url,
    dicom_errors,
    dicom_json_response,
    json_array,
    store_of,
    warning_header,
)
from adapters.http.responses import HttpError
from bridge.dicom.attributes import Attribute, Level, parse_attribute_id
from bridge.dicom.types import MatchKey, QidoQuery

#: Parameters that are not attribute matches (compared in lower case).
CONTROL_PARAMETERS = frozenset(
    {
        "limit",
        "offset",
        "fuzzymatching",
        "includefield",
        "emptyvaluematching",
        "multiplevaluematching",
        "token",
        "_",
    }
)
TRUNCATED_WARNING = (
    "The number of results exceeded the maximum supported by the server. Additional results "
    "can be requested."
)


@functools.cache
def _keywords_by_lower_case() -> dict[str, str]:
    return {keyword.lower(): keyword for keyword in keyword_dict}


def attribute_id(text: str) -> Attribute | None:
    """A keyword (any case, as Slicer accepted) or an 8-hex tag → the attribute."""
    found = parse_attribute_id(text)
    if found is None:
        keyword = _keywords_by_lower_case().get(text.strip().lower())
        if keyword is not None:
            found = parse_attribute_id(keyword)
    return found


def _non_negative(name: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise HttpError(400, f"parameter '{name}' must be a whole number, got {text!r}") from None
    if value < 0:
        raise HttpError(400, f"parameter '{name}' must not be negative, got {value}")
    return value


def parse_query(request: web.Request, level: Level, target: Target) -> tuple[QidoQuery, list[str]]:
    """The request's query string as a QidoQuery, and the warnings about ignored keys."""
    filters: list[MatchKey] = []
    include: list[Attribute] = []
    warnings: list[str] = []
    options: dict[str, Any] = {"include_all": False, "fuzzy": False, "limit": None, "offset": 0}
    for name, value in request.query.items():
        lowered = name.lower()
        if lowered == "includefield":
            for item in (part.strip() for part in value.split(",")):
                if not item:
                    continue
                if item.lower() == "all":
                    options["include_all"] = True
                elif (found := attribute_id(item)) is not None:
                    include.append(found)
                else:
                    warnings.append(f"includefield {item!r} names no attribute; ignored")
        elif lowered in ("limit", "offset"):
            options[lowered] = _non_negative(name, value)
        elif lowered == "fuzzymatching":
            flag = value.strip().lower()
            if flag not in ("true", "false"):
                raise HttpError(
                    400, f"parameter 'fuzzymatching' must be true or false, got {value!r}"
                )
            options["fuzzy"] = flag == "true"
        elif lowered in ("emptyvaluematching", "multiplevaluematching"):
            if value.strip().lower() == "true":
                warnings.append(f"The {lowered} parameter is not supported; ignored")
        elif lowered in CONTROL_PARAMETERS:
            continue
        elif "." in name:
            warnings.append(f"sequence matching ({name}) is not supported; ignored")
        elif (found := attribute_id(name)) is not None:
            filters.append(MatchKey(found, value))
        else:
            warnings.append(f"{name!r} names no attribute; ignored")
    query = QidoQuery(
        level=level,
        study_uid=target.study,
        series_uid=target.series,
        filters=tuple(filters),
        include=tuple(include),
        **options,
    )
    return query, warnings


async def _search(request: web.Request, target: Target, level: Level) -> web.Response:
    media_type = negotiate_json(parse_accept(request.headers.get("Accept")))
    query, warnings = parse_query(request, level, target)
    result = store_of(request).search(query)
    warnings.extend(result.warnings)
    if result.truncated:
        warnings.append(TRUNCATED_WARNING)
    body = absolute_urls(json_array(result.rows), base_url(request))
    response = dicom_json_response(body, media_type=media_type)
    for text in warnings:
        response.headers.add("Warning", warning_header(request, text))
    return response


@dicom_errors
async def search_studies(request: web.Request, target: Target) -> web.Response:
    return await _search(request, target, Level.STUDY)


@dicom_errors
async def search_series(request: web.Request, target: Target) -> web.Response:
    return await _search(request, target, Level.SERIES)


@dicom_errors
async def search_instances(request: web.Request, target: Target) -> web.Response:
    return await _search(request, target, Level.INSTANCE)
