"""Samples the server's CPU seconds and resident memory from GET /metrics while a run goes on.

`process_cpu_seconds_total` and `process_resident_memory_bytes` come from prometheus-client's
ProcessCollector (server/core/metrics.py). With several worker processes behind one port, each scrape
reaches one of them: the figures are then one worker's, which the report says.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

METRIC_CPU = "process_cpu_seconds_total"
METRIC_RSS = "process_resident_memory_bytes"
METRIC_LIVE = "vigil_sessions_live"


@dataclass(frozen=True)
class Sample:
    t: float  # unix seconds
    cpu_s: float | None
    rss_bytes: float | None
    sessions_live: float | None

    def as_json(self, t0: float) -> dict[str, Any]:
        return {"t": round(self.t - t0, 2), "cpu_s": self.cpu_s, "rss_bytes": self.rss_bytes,
                "sessions_live": self.sessions_live}


def parse_metrics(text: str) -> dict[str, float]:
    """The samples of the Prometheus text format we need (labelled only by `worker`: one a scrape)."""
    wanted = {METRIC_CPU, METRIC_RSS, METRIC_LIVE}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, value = line.partition(" ")
        name = name.partition("{")[0]  # `name{worker="..."}`
        if name in wanted:
            try:
                out[name] = float(value.split()[0])
            except (ValueError, IndexError):
                continue
    return out


class ServerProbe:
    def __init__(self, base_url: str, every_s: float = 1.0) -> None:
        self.url = base_url.rstrip("/") + "/metrics"
        self.every_s = every_s
        self.samples: list[Sample] = []
        self.errors = 0
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def sample(self) -> Sample | None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self._http.get(self.url) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                values = parse_metrics(await resp.text())
        except Exception:  # a busy or restarting server: a gap in the series, not a failure
            self.errors += 1
            return None
        s = Sample(time.time(), values.get(METRIC_CPU), values.get(METRIC_RSS), values.get(METRIC_LIVE))
        self.samples.append(s)
        return s

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.every_s)
                await self.sample()

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def between(self, t_from: float, t_to: float) -> tuple[Sample, Sample] | None:
        """The first sample at or after `t_from` and the last at or before `t_to` (with CPU)."""
        inside = [s for s in self.samples if t_from - 0.5 <= s.t <= t_to + 0.5 and s.cpu_s is not None]
        if len(inside) < 2:
            return None
        return inside[0], inside[-1]
