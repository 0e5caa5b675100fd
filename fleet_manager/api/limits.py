"""Limits every input of the Fleet API keeps, and the checks that apply to every field of every body.

One place for the numbers: a body is at most `MAX_BODY_BYTES`, a text at most `MAX_TEXT_CHARS`,
a time within `EARLIEST_TIME`..`LATEST_TIME` (so it renders back as RFC 3339 and as a clock
stamp), an id matches `ID_PATTERN` (so it fits the store's 64-character columns and a URL path
segment). The checks are general so that a new field of any type gets them without code of its own.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, Field

MAX_BODY_BYTES = 1024 * 1024  # one request body (the batch endpoint has its own, see BATCH_MAX_BODY_BYTES)
BATCH_MAX_BODY_BYTES = 8 * 1024 * 1024  # 1,000 orders of up to ~8 KB each
MAX_TEXT_CHARS = 2000  # default for every string field that does not set a tighter max_length
MAX_JSON_DEPTH = 32  # nesting of a JSON body (objects and arrays)
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # the fleet file's id rule: fits a path segment and the store's columns
EARLIEST_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_time(value: dt.datetime) -> dt.datetime:
    """A time between EARLIEST_TIME and LATEST_TIME (year 1 or 9999 with an offset cannot be rendered back)."""
    if value.tzinfo is not None and not EARLIEST_TIME <= value <= LATEST_TIME:
        raise ValueError(f"must be between {EARLIEST_TIME.isoformat()} and {LATEST_TIME.isoformat()}")
    return value


#: An RFC 3339 time with an offset, within the sane range.
SaneTime = Annotated[AwareDatetime, AfterValidator(check_time)]
#: An id of a resource (order, vehicle, locker, zone, mission, event) as a body field.
ResourceId = Annotated[str, Field(pattern=ID_PATTERN)]
#: The same as a URL path parameter.
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="1-64 of A-Z a-z 0-9 _ . -")]


def check_field_value(value: Any) -> Any:
    """What every field of every request body must satisfy, whatever its type (see `schemas.Strict`)."""
    if isinstance(value, dt.datetime):
        return check_time(value)
    return value


def _plain_types(annotation: Any) -> set[Any]:
    """The types a field annotation admits, `X | None` and `Optional[X]` unwrapped (Annotated is already gone)."""
    args = typing.get_args(annotation)
    if args and typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return {arg for arg in args if arg is not type(None)}
    return {annotation}


def check_json_type(value: Any, annotation: Any) -> Any:
    """Strict JSON types for scalar fields: a boolean field takes only true/false, a number field only numbers.

    pydantic's lax mode would read "yes" as true and "1.5" as 1.5; a client sending those has a bug
    worth a 422 that names the field rather than a guess.
    """
    if value is None:
        return value
    admitted = _plain_types(annotation)
    if admitted == {bool} and not isinstance(value, bool):
        raise ValueError("must be a JSON boolean (true or false)")
    if admitted and admitted <= {int, float} and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError("must be a JSON number")
    return value


def bad_json_values(document: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, problem) for every value that no field of this API accepts: NaN or ±Infinity (which Python's
    JSON parser lets through), text with a lone UTF-16 surrogate or a NUL character, nesting past `max_depth`."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) > max_depth:
            yield path, f"nested deeper than {max_depth} levels"
            continue
        if isinstance(value, float) and not math.isfinite(value):
            yield path, "must be a finite number (NaN and Infinity are not JSON numbers)"
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                yield path, problem
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    yield (*path, "<key>"), f"key {problem}"
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))


def text_problem(text: str) -> str:
    """Why a text cannot be stored or rendered as UTF-8 ('' when it can)."""
    if "\x00" in text:
        return "must not contain NUL characters"
    if _SURROGATE.search(text):
        return "must not contain lone UTF-16 surrogates (not valid Unicode text)"
    return ""


def safe_value(value: Any) -> Any:
    """A short, JSON-safe rendering of an input value for an error message, or None to leave it out.

    Scalars only: a whole body, a long text or a non-finite number is never repeated back.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) < 10**18:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and len(value) <= 64 and not text_problem(value):
        return value
    return None
