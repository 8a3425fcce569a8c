"""What every controller is to the daemon (``lbc.app.Controller``), written once.

A controller is a key space of its own on the shared machinery: a name (its work queue's and
its metrics' label), the informers it reads, its own work queue with client-go's per-key
exponential backoff, a number of workers, a reconcile of one key, and the keys it owns, queued
at low priority once this replica leads so that live events are served first.

:class:`KeyedController` holds that shape; a controller adds its informers, their handlers and
its reconciler. It belongs to no controller, so every controller module may import it (the
import contracts of ``pyproject.toml`` forbid a controller's modules only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar

from lbc.control.worker import Result
from lbc.control.workqueue import ItemExponentialBackoff, WorkQueue
from lbc.kube.client import KubeClient, Resource
from lbc.kube.informer import Informer
from lbc.settings import Settings

K = TypeVar("K")
K_contra = TypeVar("K_contra", contravariant=True)

LIST_PAGE_SIZE: Final = 500
"""Pages bound the memory of an informer's initial list: one 100,000-pod document decoded at
once leaves ~5 KB per pod of freed-but-pinned arenas (README, Benchmarks, note 2)."""

InformerFactory = Callable[..., Informer[Any]]
"""``(resource, project, **informer options)`` to an informer on the controller's client."""


def retry_backoff(settings: Settings) -> ItemExponentialBackoff[Any]:
    """The per-key retry backoff of a controller's queue (``LBC_BACKOFF_BASE``, ``_MAX``)."""
    return ItemExponentialBackoff(settings.backoff_base, settings.backoff_max)


def informer_factory(kube: KubeClient, resync_period: float) -> InformerFactory:
    """Informers as every controller builds them: on ``kube``, resynced every
    ``resync_period``, listed in pages of :data:`LIST_PAGE_SIZE`."""

    def informer(resource: Resource, project: Callable[..., Any], **kw: Any) -> Informer[Any]:
        return Informer(
            kube, resource, project, resync_period=resync_period, page_size=LIST_PAGE_SIZE, **kw
        )

    return informer


class Reconciler(Protocol[K_contra]):
    """One key per call; the worker decides what happens to the key from the result or error."""

    async def reconcile(self, key: K_contra) -> Result | None: ...


class KeyedController(Generic[K]):
    """Satisfies ``lbc.app.Controller``: ``reconcile`` is the reconciler's, ``started_leading``
    queues :meth:`owned_keys` at low priority (override either where a controller differs)."""

    informers: Sequence[Informer[Any]] = ()
    reconciler: Reconciler[K]

    def __init__(self, name: str, *, concurrency: int, backoff: ItemExponentialBackoff[K]) -> None:
        self.name = name
        self.concurrency = concurrency
        self.queue: WorkQueue[K] = WorkQueue(name, rate_limiter=backoff)

    async def reconcile(self, key: K) -> Result | None:
        return await self.reconciler.reconcile(key)

    def owned_keys(self) -> Iterable[K]:
        """Every key this controller owns (from its caches), for the sweep on winning the lease."""
        return ()

    def started_leading(self) -> None:
        for key in self.owned_keys():
            self.queue.add(key, low_priority=True)
