"""Prometheus metrics: one registry per app.

The request path only bumps plain integers (a decision costs a dict update and a bisect,
not prometheus_client's locks); a collector turns them, the cache's counters and the policy
store's state into metric families at scrape time, so those numbers are theirs and never
drift.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from ..decision.service import DecisionService
from ..policy.store import PolicyStore

__all__ = ["CONTENT_TYPE_LATEST", "ENDPOINTS", "Metrics"]

ENDPOINTS = ("evaluation", "evaluations", "search", "forward_auth", "opa")

# Upper bounds of the latency buckets, in µs (decision latencies are µs to ms).
_BUCKETS_US = (
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
)


class _Latency:
    __slots__ = ("count", "counts", "total_us")

    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS_US) + 1)  # the last one is +Inf
        self.count = 0
        self.total_us = 0


# siamese_http_breaker_state: a circuit's state as a number
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class Metrics(Collector):
    """``http``: the ``stats()`` of the external-data client (:class:`siamese.pip.HttpData`),
    read at scrape time like the store and the cache."""

    def __init__(
        self,
        store: PolicyStore,
        service: DecisionService,
        *,
        http: Callable[[], Mapping[str, Any]] | None = None,
        audit: Callable[[], Mapping[str, Any]] | None = None,
        shadow: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.http = http
        self.audit = audit
        self.shadow = shadow
        self.decisions: dict[tuple[str, str], int] = {
            (e, r): 0 for r in ("allow", "deny") for e in ENDPOINTS
        }
        self.errors: dict[tuple[str, str], int] = {}
        self.latency = {e: _Latency() for e in ENDPOINTS}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        # resident memory, CPU seconds, open file descriptors, start time (from /proc)
        ProcessCollector(registry=self.registry)

    def decided(self, endpoint: str, allowed: bool, latency_us: int) -> None:
        key = (endpoint, "allow" if allowed else "deny")
        self.decisions[key] += 1
        h = self.latency[endpoint]
        h.counts[bisect_left(_BUCKETS_US, latency_us)] += 1
        h.count += 1
        h.total_us += latency_us

    def refused(self, endpoint: str, status: int) -> None:
        key = (endpoint, str(status))
        self.errors[key] = self.errors.get(key, 0) + 1

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Any]:
        decisions = CounterMetricFamily(
            "siamese_decisions",
            "Decisions answered, by endpoint and result",
            labels=["endpoint", "result"],
        )
        for (endpoint, result), n in self.decisions.items():
            decisions.add_metric([endpoint, result], n)
        yield decisions
        errors = CounterMetricFamily(
            "siamese_request_errors",
            "Decision API requests refused, by endpoint and HTTP status",
            labels=["endpoint", "status"],
        )
        for (endpoint, status), n in sorted(self.errors.items()):
            errors.add_metric([endpoint, status], n)
        yield errors
        latency = HistogramMetricFamily(
            "siamese_decision_latency_seconds",
            "Time to decide (cache lookup or evaluation), by endpoint",
            labels=["endpoint"],
        )
        for endpoint, h in self.latency.items():
            buckets, running = [], 0
            for bound, n in zip((*_BUCKETS_US, None), h.counts):
                running += n
                buckets.append(("+Inf" if bound is None else repr(bound / 1e6), running))
            latency.add_metric([endpoint], buckets, sum_value=h.total_us / 1e6)
        yield latency
        yield from self._store()
        yield from self._cache()
        yield from self._http()
        yield from self._audit()
        yield from self._shadow()

    def _store(self) -> Iterator[Any]:
        store = self.store
        yield CounterMetricFamily(
            "siamese_policy_reloads",
            "Policy revisions swapped in (the first load included)",
            value=store.reloads,
        )
        yield CounterMetricFamily(
            "siamese_policy_reload_failures",
            "Policy loads that failed and left the last good set serving",
            value=store.failures,
        )
        yield GaugeMetricFamily(
            "siamese_policy_loaded",
            "1 when a policy set is loaded and serving",
            value=int(store.get() is not None),
        )
        yield GaugeMetricFamily(
            "siamese_policy_last_reload_failed",
            "1 when the latest load of the policy directory failed",
            value=int(store.last_error is not None),
        )
        if store.loaded_at is not None:
            yield GaugeMetricFamily(
                "siamese_policy_loaded_timestamp_seconds",
                "When the serving revision was swapped in",
                value=store.loaded_at,
            )
        info = InfoMetricFamily("siamese_policy", "The serving policy revision")
        info.add_metric([], {"revision": store.revision or ""})
        yield info
        ps = store.get()
        if ps is not None:  # the serving revision's (they start again at a reload)
            counts = ps.program.counts
            paths = CounterMetricFamily(
                "siamese_engine_decisions",
                "Decisions of the serving revision by how they ran: compiled code alone, or "
                "driven by the interpreter",
                labels=["path"],
            )
            paths.add_metric(["compiled"], counts.compiled)
            paths.add_metric(["interpreted"], counts.driven)
            yield paths
            clauses = CounterMetricFamily(
                "siamese_engine_interpreted_clauses",
                "Clause activations the interpreter ran for the serving revision, outside or "
                "inside the evaluation of a table",
                labels=["where"],
            )
            clauses.add_metric(["decision"], counts.interpreted_clauses)
            clauses.add_metric(["table"], counts.table_clauses)
            yield clauses

    def _cache(self) -> Iterator[Any]:
        cache = self.service.cache
        if cache is None:
            return
        stats = cache.stats()
        for name, doc in (
            ("hits", "Decisions answered from the cache"),
            ("misses", "Decisions computed because the cache had no answer"),
            ("coalesced", "Misses answered by an identical computation already under way"),
            ("evictions", "Cached decisions pushed out for room"),
            ("expirations", "Cached decisions dropped when their TTL passed"),
        ):
            yield CounterMetricFamily(f"siamese_decision_cache_{name}", doc, value=stats[name])
        yield GaugeMetricFamily(
            "siamese_decision_cache_size", "Decisions in the cache", value=stats["size"]
        )
        yield GaugeMetricFamily(
            "siamese_decision_cache_max_size", "Capacity of the decision cache", value=cache.maxsize
        )

    def _audit(self) -> Iterator[Any]:
        """The decision log's status (:meth:`siamese.audit.log.AuditLog.status`)."""
        if self.audit is None:
            return
        st = self.audit()
        yield CounterMetricFamily("siamese_audit_events_written",
                                  "Decision events written to the decision log",
                                  value=st["written"])
        yield CounterMetricFamily("siamese_audit_events_lost",
                                  "Decision events that could not be written (disk full, "
                                  "permission lost, queue full)", value=st["lost"])
        yield GaugeMetricFamily("siamese_audit_queue_size",
                                "Decision events waiting to be written", value=st["queued"])
        yield GaugeMetricFamily("siamese_audit_degraded",
                                "1 while the decision log cannot be written, or lost an "
                                "event in the last minutes (see /health), else 0",
                                value=1 if st["state"] == "degraded" else 0)

    def _shadow(self) -> Iterator[Any]:
        """The shadow policy set's comparisons (:meth:`ShadowRunner.status`)."""
        if self.shadow is None:
            return
        st = self.shadow()
        policy = self.store.get()
        serving = policy.revision if policy is not None else ""
        disagreements = CounterMetricFamily(
            "siamese_shadow_disagreements",
            "Decisions the shadow policy set decided otherwise, by the serving and the shadow "
            "revision and results",
            labels=["serving", "shadow", "serving_result", "shadow_result"],
        )
        for pair, n in st["disagreements_by"].items():
            a, b = pair.split("->")
            disagreements.add_metric([serving, st["revision"] or "", a, b], n)
        yield disagreements
        for name, key, doc in (
            ("compared", "compared", "Decisions the shadow policy set decided again"),
            ("dropped", "dropped", "Decisions not compared: the shadow queue was full"),
            ("errors", "errors", "Comparisons that could not run (no shadow set loaded)"),
        ):
            yield CounterMetricFamily(f"siamese_shadow_{name}", doc, value=st[key])
        yield GaugeMetricFamily("siamese_shadow_queue_size",
                                "Decisions waiting for the shadow policy set", value=st["queued"])

    def _http(self) -> Iterator[Any]:
        if self.http is None:
            return
        stats = self.http()
        for name, key, doc in (
            ("fetches", "fetches", "Requests sent by http_get_json (each redirect hop counts)"),
            ("fetch_failures", "failures", "http_get_json fetches that produced no data"),
            ("fetch_refusals", "refusals", "http_get_json fetches refused by SIAMESE_HTTP_ALLOW "
             "or the address check"),
            ("connections", "connections", "Connections opened by http_get_json"),
        ):
            yield CounterMetricFamily(f"siamese_http_{name}", doc, value=stats[key])
        cache = stats["cache"]
        for name, doc in (
            ("hits", "http_get_json documents answered from the data cache"),
            ("misses", "http_get_json documents not in the data cache"),
            ("coalesced", "Misses answered by an identical fetch already under way"),
        ):
            yield CounterMetricFamily(f"siamese_http_cache_{name}", doc, value=cache[name])
        yield GaugeMetricFamily(
            "siamese_http_cache_size", "Documents in the data cache", value=cache["size"]
        )
        breakers = GaugeMetricFamily(
            "siamese_http_breaker_state",
            "Circuit of each upstream host: 0 closed, 1 half-open, 2 open",
            labels=["host"],
        )
        for host, state in stats["breakers"].items():
            breakers.add_metric([host], BREAKER_STATES.get(state, 2))
        yield breakers
