"""Prometheus metrics of the API and the workers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "asktell_request_seconds",
    "HTTP request latency by route",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ASKS_WAITING = Gauge("asktell_asks_waiting", "Asks waiting for a worker", registry=REGISTRY)
JOBS = Gauge("asktell_jobs", "Suggestion jobs by state", ["state"], registry=REGISTRY)
TRIALS = Gauge("asktell_trials", "Trials by state", ["state"], registry=REGISTRY)
SUGGEST_SECONDS = Histogram(
    "asktell_suggest_seconds",
    "Suggestion compute time by strategy",
    ["strategy"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
TELLS = Counter("asktell_tells_total", "Tells by outcome state", ["state"], registry=REGISTRY)
