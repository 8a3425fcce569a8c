"""Prometheus metrics: one registry for the process, metric objects defined by their owners.

Each module that produces a metric defines it next to the code that moves it, on ``REGISTRY``
(so tests and the daemon read one endpoint). Names mirror controller-runtime and client-go where
those exist (``controller_runtime_reconcile_total``, ``workqueue_depth``, ``rest_client_*``,
``leader_election_master_status``); lbc's own metrics are prefixed ``lbc_``.

Metrics are declared with :func:`counter`, :func:`histogram` and :func:`gauge`, never with
prometheus_client's classes: a metric built without ``registry=REGISTRY`` lands on the library's
default registry and silently never appears on /metrics (a unit test,
tests/unit/observe/test_metric_declarations.py, keeps the classes out of every other module).
The full metric name stays written out at each declaration, so a name read on a dashboard greps
to its owner.

The ``_created`` series prometheus_client adds to every counter and histogram (the Unix time
each child was created) are disabled, as in most exporters and in Go's client: they double
the series count and nothing in lbc's documentation or dashboards reads them.

Gauges computed at scrape time from a live object (a queue's depth, an informer's silence)
hold that object only weakly (:func:`gauge_from`): a stopped queue or informer is freed, and
its series then reads 0.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

T = TypeVar("T")


def counter(name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
    """A counter on ``REGISTRY``; exposed as ``<name>_total`` whether or not ``name`` ends so."""
    return Counter(name, doc, labels, registry=REGISTRY)


def histogram(
    name: str, doc: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
) -> Histogram:
    """A histogram on ``REGISTRY``; buckets have no default, each series names its own."""
    return Histogram(name, doc, labels, buckets=buckets, registry=REGISTRY)


def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
    """A gauge on ``REGISTRY``."""
    return Gauge(name, doc, labels, registry=REGISTRY)


BUILD_INFO = gauge(
    "lbc_build_info", "Always 1; the version label says which lbc build is running.", ["version"]
)


def set_build_info(version: str) -> None:
    """Publish ``lbc_build_info{version}`` (one series per process)."""
    BUILD_INFO.labels(version=version).set(1)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, with its content type (what /metrics serves)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def gauge_from(child: Gauge, owner: T, read: Callable[[T], float]) -> None:
    """Make ``child`` read ``read(owner)`` at scrape time without keeping ``owner`` alive."""
    ref = weakref.ref(owner)

    def value() -> float:
        alive = ref()
        return 0.0 if alive is None else read(alive)

    child.set_function(value)
