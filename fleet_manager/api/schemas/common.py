"""What every Fleet API body shares: strict input models, time conversion, free-form map types."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..limits import MAX_TEXT_CHARS, check_field_value, check_json_type

#: Keys of free-form maps (metadata, details): short names.
MapKey = Annotated[str, Field(min_length=1, max_length=64)]
#: Values of free-form maps: short scalars.
MapValue = Annotated[str, Field(max_length=500)] | int | float | bool


def to_time(stamp_s: float | None) -> dt.datetime | None:
    """Clock seconds -> aware UTC datetime."""
    return None if stamp_s is None else dt.datetime.fromtimestamp(stamp_s, dt.UTC)


def _utc(stamp_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(stamp_s), dt.UTC)


class Strict(BaseModel):
    """Bodies refuse unknown fields, so a typo is a 422 naming it rather than silently ignored.

    Every field of every body, whatever its type: numbers are finite, strings at most
    MAX_TEXT_CHARS unless the field says less, times within the sane range (`api/limits.py`).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=MAX_TEXT_CHARS)

    @field_validator("*", mode="after")
    @classmethod
    def _within_limits(cls, value: Any) -> Any:
        return check_field_value(value)

    @field_validator("*", mode="before")
    @classmethod
    def _json_types(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return check_json_type(value, field.annotation) if field is not None else value

