"""Prometheus metrics of one app, on its own registry (four apps can share a process).

Contract: `Metrics(service)` creates the counters every service exposes at `/<svc>/metrics`:
requests and their durations by route template, outbox backlog and published records, consumer
lag per partition, dead-lettered records, scheduled jobs run. Nothing is registered globally.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "gongyi_http_requests", "HTTP requests served", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "gongyi_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_backlog = Gauge("gongyi_outbox_backlog", "Outbox rows not yet published", registry=r)
        self.relay_published = Counter("gongyi_relay_published", "Events published by the relay", registry=r)
        self.consumer_lag = Gauge(
            "gongyi_consumer_lag",
            "Records behind the end of the partition",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.consumer_processed = Counter(
            "gongyi_consumer_processed", "Records applied by consumers", ["group"], registry=r
        )
        self.dlt_records = Counter(
            "gongyi_dlt_records", "Records sent to a dead-letter topic", ["group", "topic"], registry=r
        )
        self.jobs_run = Counter("gongyi_scheduled_jobs_run", "Scheduled jobs run", ["job", "outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
