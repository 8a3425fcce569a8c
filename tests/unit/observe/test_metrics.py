"""The metrics endpoint: documented series only, and no object kept alive by a gauge."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

from lbc.control.workqueue import WorkQueue
from lbc.kube.client import PODS, KubeClient
from lbc.kube.informer import Informer
from lbc.observe.metrics import REGISTRY, exposition


def test_counters_export_no_created_series() -> None:
    queue: WorkQueue[str] = WorkQueue("created-check")
    queue.add("ns/a")  # a counter child with a value
    text = exposition()[0].decode()
    assert "workqueue_adds_total{" in text
    created = [line for line in text.splitlines() if "_created" in line.split("{")[0]]
    assert created == []
    del queue


def test_a_dropped_work_queue_is_freed_and_its_gauges_read_zero() -> None:
    queue: WorkQueue[str] = WorkQueue("freed-queue")
    queue.add("ns/a")
    labels = {"name": "freed-queue", "controller": "freed-queue"}
    assert REGISTRY.get_sample_value("workqueue_depth", labels) == 1.0
    ref = weakref.ref(queue)
    del queue
    gc.collect()
    assert ref() is None, "the metrics kept a stopped queue alive"
    assert REGISTRY.get_sample_value("workqueue_depth", labels) == 0.0


def test_a_dropped_informer_is_freed() -> None:
    informer: Informer[Any] = Informer(cast(KubeClient, object()), PODS, lambda obj: obj)
    ref = weakref.ref(informer)
    del informer
    gc.collect()
    assert ref() is None, "the metrics kept a stopped informer alive"
