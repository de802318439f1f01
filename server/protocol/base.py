"""The three kinds of network message model, and the one way to say "this key may be absent".

* `Frozen`: bodies Vigil reads from HTTP; unknown keys are refused (a typo is a 400, not ignored).
* `Lenient`: data-channel messages from clients; unknown keys are ignored (clients may add their own).

Both inbound kinds refuse non-finite numbers (`Infinity`, `NaN`: Python's JSON parser accepts
them): one such value echoed back would make every later message invalid JSON for its readers.
* `Outbound`: what Vigil sends (data channel, fan-out, event stream, HTTP answers). The server builds
  these as plain dicts; the models describe that JSON exactly (unknown keys refused), so the schema
  test catches a field the code adds without documenting it.

A key that is sometimes missing (not null: absent) is `Absent[T]`: optional in the JSON Schema
without allowing null, e.g. `head_pose` when the stage produced no result for the frame.
"""
from __future__ import annotations

from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.json_schema import SkipJsonSchema

T = TypeVar("T")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class _AbsentMarker:
    """Field metadata of `Absent` keys."""


_ABSENT = _AbsentMarker()


class Outbound(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _absent_is_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if _ABSENT in info.metadata and name in data and data[name] is None:
                    raise ValueError(f"{name} is absent or set, never null")
        return data


#: a key that is either present with a `T` or absent (never null); give it the default None
Absent = Annotated[Union[T, SkipJsonSchema[None]], _ABSENT]  # noqa: UP007 (`T | ...` is not a generic alias for mypy)
