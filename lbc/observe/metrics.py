"""Prometheus metrics: one registry for the process, metric objects defined by their owners.

Each module that produces a metric defines it next to the code that moves it, on ``REGISTRY``
(so tests and the daemon read one endpoint). Names mirror controller-runtime and client-go where
those exist (``controller_runtime_reconcile_total``, ``workqueue_depth``, ``rest_client_*``,
``leader_election_master_status``); lbc's own metrics are prefixed ``lbc_``.

The ``_created`` series prometheus_client adds to every counter and histogram (the Unix time
each child was created) are disabled, as in most exporters and in Go's client: they double
the series count and nothing in lbc's documentation or dashboards reads them.

Gauges computed at scrape time from a live object (a queue's depth, an informer's silence)
hold that object only weakly (:func:`gauge_from`): a stopped queue or informer is freed, and
its series then reads 0.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

T = TypeVar("T")

BUILD_INFO = Gauge(
    "lbc_build_info",
    "Always 1; the version label says which lbc build is running.",
    ["version"],
    registry=REGISTRY,
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
