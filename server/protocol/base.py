"""The three kinds of network message model, and the one way to say "this key may be absent".

* `Frozen`: bodies Vigil reads from HTTP; unknown keys are refused (a typo is a 400, not ignored).
* `Lenient`: data-channel messages from clients; unknown keys are ignored (clients may add their own).
* `Outbound`: what Vigil sends (data channel, fan-out, event stream, HTTP answers). The server builds
  these as plain dicts; the models describe that JSON exactly (unknown keys refused), so the schema
  test catches a field the code adds without documenting it.

A key that is sometimes missing (not null: absent) is `Absent[T]`: optional in the JSON Schema
without allowing null, e.g. `head_pose` when the stage produced no result for the frame.
"""
from __future__ import annotations

from typing import TypeVar, Union

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import SkipJsonSchema

T = TypeVar("T")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Outbound(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: a key that is either present with a `T` or absent (never null); give it the default None
Absent = Union[T, SkipJsonSchema[None]]  # noqa: UP007 (`T | ...` is not a generic alias for mypy)
