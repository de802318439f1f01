"""Prometheus metrics (GET /metrics). One registry per process; names are `vigil_*`.

Every sample carries a `worker` label (`WorkerLabelled`, added at exposition): a counter is one series
per worker, never one series jumping between workers' values. Under `vigil serve --workers N` each
worker keeps its own registry; the worker a scrape lands on fetches its peers' expositions (over their
internal URLs) and `merged` joins them into one, so one scrape sees every worker. Sum over `worker`
for the whole server.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

REGISTRY = CollectorRegistry(auto_describe=True)
# process_cpu_seconds_total, process_resident_memory_bytes: the load test reads these
ProcessCollector(registry=REGISTRY)

SESSIONS_LIVE = Gauge("vigil_sessions_live", "sessions with a connected peer on this worker", registry=REGISTRY)
SESSIONS_CREATED = Counter("vigil_sessions_created", "sessions created", registry=REGISTRY)
FRAMES_RECEIVED = Counter("vigil_frames_received", "decoded video frames received", registry=REGISTRY)
FRAMES_ANALYSED = Counter("vigil_frames_analysed", "video frames analysed", registry=REGISTRY)
FRAMES_DROPPED = Counter("vigil_frames_dropped", "frames replaced by a newer one before analysis", registry=REGISTRY)
ANALYSIS_ERRORS = Counter("vigil_analysis_errors", "frames whose analysis raised", registry=REGISTRY)
STAGE_ERRORS = Counter("vigil_stage_errors", "stage failures on one frame", ["stage"], registry=REGISTRY)
STAGE_SECONDS = Histogram(
    "vigil_stage_seconds", "time per stage per analysed frame", ["stage"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64))
PIPELINE_SECONDS = Histogram(
    "vigil_pipeline_seconds", "whole pipeline time per analysed frame", registry=REGISTRY,
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28))
SERVER_LATENCY_SECONDS = Histogram(
    "vigil_server_latency_seconds", "frame received to analysis sent", registry=REGISTRY,
    buckets=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0))
E2E_LATENCY_SECONDS = Histogram(
    "vigil_e2e_latency_seconds", "capture to analysis sent, where the client gives capture times",
    registry=REGISTRY, buckets=(0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0))
DECODE_SHEDS = Counter("vigil_decode_sheds", "times a video decode backlog was dropped for a keyframe",
                       registry=REGISTRY)
DC_DROPPED = Counter("vigil_datachannel_dropped", "analysis messages not sent to a slow client", registry=REGISTRY)
DC_BAD = Counter("vigil_datachannel_bad_messages", "malformed or unknown client messages", registry=REGISTRY)
REDIS_ERRORS = Counter("vigil_redis_errors", "failed Redis operations: event writes (retried), periodic jobs' store "
                       "calls, refused requests, failed /readyz and /health pings", registry=REGISTRY)
HTTP_ERRORS = Counter("vigil_http_errors", "HTTP error responses", ["status"], registry=REGISTRY)
REJECTED = Counter("vigil_rejected", "requests refused by a limit", ["limit"], registry=REGISTRY)
WORKER_LOAD = Gauge("vigil_worker_load", "live sessions on this worker / its max", registry=REGISTRY)
EXAM_SESSIONS_LIVE = Gauge("vigil_exam_sessions_live", "sessions with a connected peer on this worker, by exam",
                           ["exam"], registry=REGISTRY)
EVENTS = Counter("vigil_events", "risk events started, by type", ["type"], registry=REGISTRY)
HTTP_REQUESTS = Counter("vigil_http_requests", "HTTP requests answered, by route template, method and status",
                        ["route", "method", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram(
    "vigil_http_request_seconds", "time to answer an HTTP request (a stream: until it ends), by route template",
    ["route", "method"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


class WorkerLabelled:
    """A registry's metrics with `worker="<id>"` on every sample; `generate_latest` takes it as a registry."""

    def __init__(self, registry: CollectorRegistry, worker: str) -> None:
        self.registry = registry
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [s._replace(labels={**s.labels, "worker": self.worker}) for s in family.samples]
            yield labelled


class Merged:
    """Several workers' expositions as one (`generate_latest` takes it as a registry): each family once,
    with every worker's samples. The sources are already worker-labelled, so no two samples collide.
    All are read back from text, this worker's too, so the families match by name (the text format
    splits a counter's `_created` samples into a family of their own)."""

    def __init__(self, expositions: Iterable[str]) -> None:
        self.expositions = list(expositions)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for text in self.expositions:
            for family in text_string_to_metric_families(text):
                mine = merged.setdefault(family.name, family)
                if mine is not family:
                    mine.samples.extend(family.samples)
        yield from merged.values()
