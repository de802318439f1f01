"""A client's live progress: what the display shows while the run goes on (sent once a second)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from server.tools.loadtest.stats import percentile

State = Literal["waiting", "connecting", "streaming", "finishing", "done", "failed"]
#: the display's latency columns cover this many recent analyses
RECENT = 50


@dataclass
class ClientProgress:
    name: str
    transport: str
    state: State = "waiting"
    analyses: int = 0
    errors: int = 0
    first_analysis_at: float | None = None
    recent_ms: list[float] = field(default_factory=list)
    detail: str = ""

    def add_latency(self, value_ms: float) -> None:
        self.recent_ms.append(value_ms)
        if len(self.recent_ms) > RECENT:
            del self.recent_ms[: len(self.recent_ms) - RECENT]

    def snapshot(self) -> dict[str, Any]:
        now = time.time()
        span = now - self.first_analysis_at if self.first_analysis_at else 0.0
        return {"name": self.name, "transport": self.transport, "state": self.state,
                "analyses": self.analyses, "errors": self.errors,
                "fps": round(self.analyses / span, 2) if span > 0.5 else None,
                "p50": percentile(self.recent_ms, 50), "p95": percentile(self.recent_ms, 95),
                "detail": self.detail}
