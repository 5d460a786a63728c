"""The prometheus_client side: a collector that refreshes the state on each scrape, and the HTTP server.

Until the first full read of the event log on record is done (a background thread, started with
the server), `/metrics` carries only `dq_exporter_ready 0`: the totals appear at once with their
full values, so Prometheus never mistakes the catch-up for a burst of new runs. After that, each
scrape reads what finished since the previous one (reader.py) under a lock, then renders.
"""

from __future__ import annotations

import sys
import threading
import time

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import start_http_server

from dq_platform.services.metrics.catalog import METRICS
from dq_platform.services.metrics.reader import StorageReader
from dq_platform.services.metrics.state import MetricsState

SCRAPE_BUDGET_SECONDS = 0.5  # a scrape reads at most this long before it answers; the rest waits for the next


class PlatformCollector:
    """A custom collector (prometheus_client calls `collect()` on every scrape)."""

    def __init__(self, reader: StorageReader):
        self.reader = reader
        self.lock = threading.Lock()
        self.ready = threading.Event()

    def catch_up(self, retry_seconds: float = 5.0) -> None:
        """The first full read of what is on record (the server's background thread). Storage that does
        not answer yet (PostgreSQL starting) is tried again; meanwhile `/metrics` says `dq_exporter_ready 0`."""
        while True:
            try:
                with self.lock:
                    while not self.reader.refresh(budget_seconds=5.0):
                        pass
                break
            except Exception as e:  # noqa: BLE001 - keep trying: the exporter must come up with its storage
                print(f"metrics: reading the run storage failed ({type(e).__name__}); retrying", file=sys.stderr)
                time.sleep(retry_seconds)
        self.ready.set()

    def describe(self):
        return []  # nothing to describe up front: `collect()` reads storage

    def collect(self):
        ready = self.ready.is_set()
        if ready:
            with self.lock:
                self.reader.refresh(budget_seconds=SCRAPE_BUDGET_SECONDS)
                yield from self._families(self.reader.state, time.time())
        yield from self._meta(ready)

    def _meta(self, ready: bool):
        r = self.reader
        for name, value in (
            ("dq_exporter_ready", float(ready)),
            ("dq_exporter_runs_read_total", float(r.runs_read)),
            ("dq_exporter_event_cursor", float(r.run_cursor)),
            ("dq_exporter_refresh_seconds", r.last_refresh_seconds),
        ):
            m = next(m for m in METRICS if m.name == name)
            family = CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily
            yield family(m.name, m.help, value=value)

    @staticmethod
    def _families(state: MetricsState, now: float):
        values = state.snapshot(now)
        for m in METRICS:
            if m.name.startswith("dq_exporter_"):
                continue
            if m.kind == "histogram":
                family = HistogramMetricFamily(m.name, m.help, labels=m.labels)
                for labels, hist in sorted(state.histograms.get(m.name, {}).items()):
                    family.add_metric(list(labels), hist.cumulative(), hist.sum)
            else:
                cls = CounterMetricFamily if m.kind == "counter" else GaugeMetricFamily
                family = cls(m.name, m.help, labels=m.labels)
                for labels, value in sorted(values.get(m.name, {}).items()):
                    family.add_metric(list(labels), value)
            yield family


def build_registry(instance, contracts) -> tuple[CollectorRegistry, PlatformCollector]:
    collector = PlatformCollector(StorageReader(instance, MetricsState(contracts)))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry, collector


def serve(instance, contracts, port: int, host: str = "127.0.0.1"):
    """Start `/metrics` on host:port and the catch-up thread; returns (server, collector). Never blocks."""
    registry, collector = build_registry(instance, contracts)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    threading.Thread(target=collector.catch_up, name="dq-metrics-catch-up", daemon=True).start()
    return server, collector
