"""The reliability suite: bad input, faults and abuse against a live server with real peers.

Each test records what it tried in the `ledger`; the suite prints a summary at the end: inputs
tried, faults injected and survived, and events lost (which must be 0).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class Ledger:
    inputs: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    events_checked: int = 0
    events_lost: int = 0

    def tried(self, kind: str, n: int = 1) -> None:
        self.inputs[kind] += n

    def injected(self, kind: str) -> None:
        self.faults[kind] += 1

    def checked_events(self, expected: int, found: int) -> None:
        self.events_checked += expected
        self.events_lost += max(0, expected - found)


LEDGER = Ledger()


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if not LEDGER.inputs and not LEDGER.faults:
        return
    tr = terminalreporter
    tr.section("reliability summary")
    tr.write_line(f"inputs tried: {sum(LEDGER.inputs.values())} "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(LEDGER.inputs.items()))})")
    tr.write_line(f"faults injected: {sum(LEDGER.faults.values())} "
                  f"({', '.join(f'{k} {v}' for k, v in sorted(LEDGER.faults.items()))})")
    tr.write_line(f"events checked: {LEDGER.events_checked}, events lost: {LEDGER.events_lost}")
