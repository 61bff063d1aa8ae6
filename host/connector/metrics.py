"""Prometheus metrics of the connector (prometheus-client, the `connector` extra).

Device figures are read from the pool when Prometheus scrapes (no bookkeeping on the request
path); client figures are counters the server bumps per request.
"""

from __future__ import annotations

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError as exc:  # pragma: no cover - the extra is part of dev and of [connector]
    raise ImportError("quantgate serve needs prometheus-client: pip install "
                      "'quantgate[connector]'") from exc

from .pool import Pool

# Seconds from a request's arrival to its answer being written: a board signs in under 1 ms,
# a simulated appliance in tens of ms, a failover waits for the device timeout.
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
                   2.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self, pool: Pool, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.clients = Gauge("quantgate_clients_connected", "Client connections open",
                             registry=r)
        self.requests = Counter("quantgate_client_requests", "Requests received, per client "
                                "and operation", ["client", "op"], registry=r)
        self.errors = Counter("quantgate_client_errors", "Error answers sent, per client, "
                              "operation and error", ["client", "op", "error"], registry=r)
        self.latency = Histogram("quantgate_request_seconds", "From a request's arrival to "
                                 "its answer written to the client", ["op"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        r.register(_PoolCollector(pool))
        self._children: dict[tuple, object] = {}  # labels() looks up a lock and a dict: cache

    def _child(self, metric, *labels):
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, client: str, op: str) -> None:
        self._child(self.requests, client, op).inc()

    def error(self, client: str, op: str, error: str) -> None:
        self._child(self.errors, client, op, error).inc()

    def answered(self, op: str, seconds: float) -> None:
        self._child(self.latency, op).observe(seconds)


class _PoolCollector:
    """quantgate_device_up / _in_flight / _requests_total / _failures_total, per device."""

    def __init__(self, pool: Pool):
        self._pool = pool

    def collect(self):
        up = GaugeMetricFamily("quantgate_device_up", "1 while the connector talks to the "
                               "device", labels=["device"])
        flight = GaugeMetricFamily("quantgate_device_in_flight", "Requests sent to the device "
                                   "and not answered yet", labels=["device"])
        sent = CounterMetricFamily("quantgate_device_requests", "Requests sent to the device",
                                   labels=["device"])
        failed = CounterMetricFamily("quantgate_device_failures", "Times the device stopped "
                                     "answering and its requests failed over",
                                     labels=["device"])
        for d in self._pool.devices:
            up.add_metric([d.label], 1.0 if d.up else 0.0)
            flight.add_metric([d.label], d.in_flight)
            sent.add_metric([d.label], d.requests)
            failed.add_metric([d.label], d.failures)
        return [up, flight, sent, failed]
