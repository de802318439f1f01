"""Vigil's release as installed: `vigil --version` and the data channel's `welcome` say it."""
from __future__ import annotations

from functools import cache


@cache
def vigil_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vigil")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"
