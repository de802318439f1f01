"""Policy <-> dict / TOML / JSON, with key and type checking.

`policy_from_dict` takes a partial mapping (the shape of `policy.example.toml`): missing keys keep
their defaults, a `conditions.<type>` table overrides only the keys it names. Unknown keys, wrong
types (a string where a number belongs, an int where a bool belongs) and out-of-range values raise
`PolicyError` naming the dotted key. `policy_to_dict` gives the full JSON-safe form, and
`policy_to_toml` renders it as TOML, so a policy round-trips through both.

`load_policy(path)` is the risk package's only I/O: it reads `.toml` with tomllib, else JSON.
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from pipeline.risk.messages import EVENT_TYPES
from pipeline.risk.policy import (
    DEFAULT_CONDITIONS,
    CandidatePolicy,
    ConditionPolicy,
    Policy,
    PolicyError,
    VerdictPolicy,
)

_TABLES = ("verdict", "candidate", "conditions")


def _expect_table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(key, f"must be a table/object, got {type(value).__name__}")
    return value


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default; ints are accepted for floats."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PolicyError(key, f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(key, f"must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(key, f"must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise PolicyError(key, f"must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise PolicyError(key, f"must be a list of strings, got {value!r}")
        return tuple(value)
    raise PolicyError(key, "is not a settable value")  # pragma: no cover - no such field today


def _overlay(obj: Any, data: Mapping[str, Any], prefix: str) -> Any:
    """`obj` (a dataclass) with the scalar fields named in `data` replaced, type-checked."""
    known = {f.name for f in fields(obj)} - set(_TABLES)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise PolicyError(dotted, f"unknown key (known: {', '.join(sorted(known))})")
        changes[key] = _coerce(dotted, value, getattr(obj, key))
    return replace(obj, **changes) if changes else obj


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Build a validated `Policy` from a (partial) mapping; see the module docstring."""
    data = _expect_table("<root>", data)
    top = {k: v for k, v in data.items() if k not in _TABLES}
    verdict = _overlay(VerdictPolicy(), _expect_table("verdict", data.get("verdict", {})), "verdict.")
    candidate = _overlay(CandidatePolicy(), _expect_table("candidate", data.get("candidate", {})), "candidate.")
    conditions: dict[str, ConditionPolicy] = {}
    for name, table in _expect_table("conditions", data.get("conditions", {})).items():
        if name not in EVENT_TYPES:
            raise PolicyError(f"conditions.{name}", f"unknown event type (known: {', '.join(EVENT_TYPES)})")
        table = _expect_table(f"conditions.{name}", table)
        conditions[name] = _overlay(DEFAULT_CONDITIONS[name], table, f"conditions.{name}.")
    base = Policy()
    known = {f.name for f in fields(base)} - set(_TABLES)
    changes: dict[str, Any] = {}
    for key, value in top.items():
        if key not in known:
            raise PolicyError(key, f"unknown key (known: {', '.join(sorted(known | set(_TABLES)))})")
        changes[key] = _coerce(key, value, getattr(base, key))
    return Policy(**changes, verdict=verdict, candidate=candidate, conditions=conditions)  # type: ignore[arg-type]


def _plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name in _TABLES:
            continue
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The full policy as a JSON-safe dict (every key, defaults included)."""
    out = _plain(policy)
    out["verdict"] = _plain(policy.verdict)
    out["candidate"] = _plain(policy.candidate)
    out["conditions"] = {name: _plain(policy.conditions[name]) for name in EVENT_TYPES}
    return out


def _toml_string(text: str) -> str:
    """A TOML basic string: escape quote, backslash and control characters (TOML forbids them raw)."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch != "\t" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def policy_to_toml(policy: Policy) -> str:
    """Render the full policy as TOML text that `tomllib` reads back to an equal policy."""
    data = policy_to_dict(policy)
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k not in _TABLES]
    for table in ("verdict", "candidate"):
        lines += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in data[table].items()]
    for name, table in data["conditions"].items():
        lines += ["", f"[conditions.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def policy_from_toml(text: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("<file>", f"invalid TOML: {exc}") from exc
    return policy_from_dict(data)


def load_policy(path: str | Path) -> Policy:
    """Read a policy file: TOML when the name ends in `.toml`, JSON otherwise."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return policy_from_toml(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError("<file>", f"invalid JSON in {path}: {exc}") from exc
    return policy_from_dict(data)
