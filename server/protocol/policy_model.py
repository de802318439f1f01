"""An exam's risk policy overrides as published (`ExamRow.policy`): the shape of `pipeline.risk.policy`.

The policy itself is frozen dataclasses (`Policy`, `VerdictPolicy`, `ConditionPolicy`), validated by
`pipeline.risk.policy_io`; an exam stores only the keys it overrides. These models are derived from
those dataclasses' fields (one declaration, never a copy), every key `Absent`: a stored override
dumps as it was stored, and the OpenAPI document types every key.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import create_model

from pipeline.risk.messages import EventType
from pipeline.risk.policy import ConditionPolicy, Policy, VerdictPolicy
from server.protocol.base import Absent, Outbound


def _overrides(cls: type, name: str, nested: dict[str, Any]) -> type[Outbound]:
    """A model of `cls`'s fields, each optional and absent unless given; `nested` replaces field types."""
    hints = get_type_hints(cls)
    absent: Any = Absent  # subscripted with types known only at run time
    fields: dict[str, Any] = {f.name: (absent[nested.get(f.name, hints[f.name])], None) for f in dataclasses.fields(cls)}
    doc = f"Overrides of `{cls.__name__}` (pipeline/risk/policy.py); a key left out keeps its default."
    return create_model(name, __base__=Outbound, __doc__=doc, __module__=__name__, **fields)


if TYPE_CHECKING:  # mypy cannot follow `create_model`; to it these are plain network models
    class ConditionOverrides(Outbound): ...
    class VerdictOverrides(Outbound): ...
    class PolicyOverrides(Outbound): ...
else:
    ConditionOverrides = _overrides(ConditionPolicy, "ConditionOverrides", {})
    VerdictOverrides = _overrides(VerdictPolicy, "VerdictOverrides", {})
    PolicyOverrides = _overrides(Policy, "PolicyOverrides", {"verdict": VerdictOverrides,
                                                              "conditions": dict[EventType, ConditionOverrides]})
