"""Prometheus metrics: one registry for the process, metric objects defined by their owners.

Each module that produces a metric defines it next to the code that moves it, on ``REGISTRY``
(so tests and the daemon read one endpoint). Names mirror controller-runtime and client-go where
those exist (``controller_runtime_reconcile_total``, ``workqueue_depth``, ``rest_client_*``,
``leader_election_master_status``); lbc's own metrics are prefixed ``lbc_``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

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
