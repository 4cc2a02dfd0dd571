"""Prometheus metrics of the runtime.

`RuntimeMetrics.default()` registers once in prometheus-client's default registry, which is
what `/metrics` serves (the registry client adds its own counters there). Tests that need
counts of their own pass a fresh `CollectorRegistry`.
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from aim_engine.api.meta import ObjectKey

WorkItem = tuple[str, ObjectKey]
"""(controller name, object key): one work-queue entry."""


class RuntimeMetrics:
    _default: ClassVar[RuntimeMetrics | None] = None

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.reconciles = Counter(
            "aim_engine_reconcile_total",
            "Reconciles by controller and result (success, requeue, retry, terminal, paused, error, "
            "conflict).",
            ["controller", "result"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "aim_engine_reconcile_errors_total", "Reconciles that raised.", ["controller"], registry=r
        )
        self.reconcile_duration = Histogram(
            "aim_engine_reconcile_duration_seconds",
            "Time spent in one reconcile.",
            ["controller"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.queue_depth = Gauge(
            "aim_engine_workqueue_depth", "Keys ready to reconcile.", ["controller"], registry=r
        )
        self.queue_adds = Counter(
            "aim_engine_workqueue_adds_total", "Keys added to the work queue.", ["controller"], registry=r
        )
        self.queue_retries = Counter(
            "aim_engine_workqueue_retries_total",
            "Rate-limited re-adds (after errors).",
            ["controller"],
            registry=r,
        )
        self.api_writes = Counter(
            "aim_engine_api_writes_total",
            "Write requests sent to the API server by verb (apply, status, delete, event) and kind.",
            ["verb", "kind"],
            registry=r,
        )
        self.api_writes_skipped = Counter(
            "aim_engine_api_writes_skipped_total",
            "Writes not sent because the cache showed they would change nothing.",
            ["verb", "kind"],
            registry=r,
        )
        self.events_dropped = Counter(
            "aim_engine_events_dropped_total",
            "Kubernetes Events not posted (rate limit, full queue, API error).",
            ["reason"],
            registry=r,
        )
        self.leader = Gauge("aim_engine_leader", "1 while this process holds the leader lease.", registry=r)
        self.relists = Counter(
            "aim_engine_informer_lists_total",
            "Full LISTs by informers (start, 410 Gone).",
            ["kind"],
            registry=r,
        )
        self.watch_errors = Counter(
            "aim_engine_informer_watch_errors_total", "Failed list/watch attempts.", ["kind"], registry=r
        )
        self.parse_errors = Counter(
            "aim_engine_informer_parse_errors_total",
            "Objects left out of the cache because they did not parse.",
            ["kind"],
            registry=r,
        )
        self.cache_objects = Gauge(
            "aim_engine_cache_objects", "Objects held in the informer cache.", ["kind"], registry=r
        )

    @classmethod
    def default(cls) -> RuntimeMetrics:
        """The process-wide instance in prometheus-client's default registry."""
        if cls._default is None:
            cls._default = cls(REGISTRY)
        return cls._default

    # --- work-queue observer (see workqueue.QueueObserver) ---

    def added(self, item: WorkItem) -> None:
        self.queue_adds.labels(item[0]).inc()

    def retried(self, item: WorkItem) -> None:
        self.queue_retries.labels(item[0]).inc()

    def depth_changed(self, item: WorkItem, delta: int) -> None:
        self.queue_depth.labels(item[0]).inc(delta)
