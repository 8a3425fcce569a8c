"""Prometheus metrics: one registry for the process, metric objects defined by their owners.

Each module that produces a metric defines it next to the code that moves it, on ``REGISTRY``
(so tests and the daemon read one endpoint). Names mirror controller-runtime and client-go where
those exist (``controller_runtime_reconcile_total``, ``workqueue_depth``, ``rest_client_*``,
``leader_election_master_status``); lbc's own metrics are prefixed ``lbc_``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
