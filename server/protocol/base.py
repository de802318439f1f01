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

import math
from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer, model_validator
from pydantic.json_schema import SkipJsonSchema

T = TypeVar("T")


def non_finite_at(value: Any, path: str = "$") -> str | None:
    """Where in a parsed JSON value a non-finite number sits (a JSON path), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := non_finite_at(v, f"{path}.{k}")) is not None), None)
    if isinstance(value, list | tuple):
        return next((p for i, v in enumerate(value) if (p := non_finite_at(v, f"{path}[{i}]")) is not None), None)
    return None


class _Inbound(BaseModel):
    """`allow_inf_nan=False` covers the typed float fields; this covers the rest of the message: an
    ignored unknown key or a free-form field (`dict[str, Any]`) holding `Infinity`, `NaN` or an
    overflow like `1e999` makes the whole message invalid (it was not JSON), not half-applied."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_non_finite(cls, data: Any) -> Any:
        where = non_finite_at(data)
        if where is not None:
            raise ValueError(f"non-finite number at {where} (not JSON)")
        return data


class Frozen(_Inbound):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Lenient(_Inbound):
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

    @model_serializer(mode="wrap")
    def _absent_stays_absent(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dumping leaves an unset `Absent` key out rather than writing null, so a model dumped at the
        HTTP edge (`server.http.errors.json_response`) is the JSON its schema describes."""
        data = handler(self)
        if isinstance(data, dict):
            for name, info in type(self).model_fields.items():
                if _ABSENT in info.metadata and name in data and data[name] is None:
                    del data[name]
        return data


#: a key that is either present with a `T` or absent (never null); give it the default None
Absent = Annotated[Union[T, SkipJsonSchema[None]], _ABSENT]  # noqa: UP007 (`T | ...` is not a generic alias for mypy)
