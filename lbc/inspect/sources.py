"""Which clusters to read: kubeconfig files and contexts named on the command line.

``--context A --context B`` picks contexts of one kubeconfig (``--kubeconfig``, else
``LBC_KUBECONFIG``/``KUBECONFIG``, else ``~/.kube/config``); several ``--kubeconfig`` files are
read each with its current context. Mixing the two is refused: which context belongs to which
file would be a guess. With neither, the current context of the default kubeconfig is read (the
in-cluster service account when there is no kubeconfig at all).

Every source's credentials are loaded before anything is asked of any cluster
(:func:`open_clusters`), so a misspelt context is a usage error at once, not an unreachable
cluster after the others were read. Clients are read-only by use: the inspector calls ``get``
and ``list`` only (a lab test checks the API servers' request logs).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes_asyncio.client import ApiClient

from lbc.core.errors import TerminalError
from lbc.kube.client import KubeClient
from lbc.kube.config import load_configuration

DEFAULT_KUBECONFIG = Path("~/.kube/config")


class InspectError(Exception):
    """The inspection cannot be made; the message is one line for the user."""

    exit_status = 2


class UsageError(InspectError):
    """Bad command-line input, or it names nothing that exists (exit status 2)."""


class UnreachableError(InspectError):
    """The one cluster the inspection needs did not answer (exit status 1: a finding)."""

    exit_status = 1


class BrokenInputError(InspectError):
    """What was asked about exists but cannot be understood, e.g. an invalid binding (1)."""

    exit_status = 1


@dataclass(frozen=True, slots=True)
class ClusterSource:
    """One cluster to read: ``kubeconfig`` ``None`` means the in-cluster service account."""

    name: str
    kubeconfig: str | None
    context: str | None

    @property
    def description(self) -> str:
        if self.kubeconfig is None:
            return "in-cluster service account"
        where = self.kubeconfig
        return f"context {self.context} of {where}" if self.context else where


@dataclass(frozen=True, slots=True)
class Cluster:
    source: ClusterSource
    client: KubeClient

    @property
    def name(self) -> str:
        return self.source.name


def default_kubeconfig(configured: str | None) -> str | None:
    """``LBC_KUBECONFIG``/``KUBECONFIG`` (first path), else ``~/.kube/config`` if it exists."""
    if configured:
        return configured.split(os.pathsep)[0]
    path = DEFAULT_KUBECONFIG.expanduser()
    return str(path) if path.is_file() else None


def _current_context(path: str) -> str | None:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read kubeconfig {path}: {exc}") from None
    current = doc.get("current-context") if isinstance(doc, dict) else None
    return current if isinstance(current, str) and current else None


def resolve_sources(
    kubeconfigs: Sequence[str], contexts: Sequence[str], configured: str | None
) -> list[ClusterSource]:
    """The clusters named by ``--kubeconfig`` and ``--context`` (see the module docstring)."""
    if len(kubeconfigs) > 1 and contexts:
        raise UsageError(
            "--context picks contexts of one kubeconfig; with several --kubeconfig files each "
            "file's current context is read"
        )
    duplicates = [c for c, n in Counter(contexts).items() if n > 1]
    if duplicates:
        raise UsageError(f"context {duplicates[0]!r} given twice")
    if len(kubeconfigs) > 1:
        names = [_current_context(p) or Path(p).stem for p in kubeconfigs]
        if len(set(names)) < len(names):
            names = [Path(p).stem for p in kubeconfigs]
        if len(set(names)) < len(names):
            names = [f"{Path(p).stem}-{i + 1}" for i, p in enumerate(kubeconfigs)]
        return [ClusterSource(n, p, None) for n, p in zip(names, kubeconfigs, strict=True)]
    path = kubeconfigs[0] if kubeconfigs else default_kubeconfig(configured)
    if path is None:
        if contexts:
            raise UsageError("--context needs a kubeconfig, and none was found")
        return [ClusterSource("in-cluster", None, None)]
    if contexts:
        return [ClusterSource(c, path, c) for c in contexts]
    return [ClusterSource(_current_context(path) or Path(path).stem, path, None)]


@asynccontextmanager
async def open_clusters(
    sources: Sequence[ClusterSource], *, timeout: float
) -> AsyncIterator[list[Cluster]]:
    """A client per source, every request bounded by ``timeout`` seconds; closed on exit.

    A source whose credentials cannot be loaded (missing file, unknown context) is a
    :class:`UsageError`, raised before any cluster is asked anything.
    """
    async with AsyncExitStack() as stack:
        clusters = []
        for source in sources:
            try:
                configuration = await load_configuration(source.kubeconfig, source.context)
            except TerminalError as exc:
                raise UsageError(f"cluster {source.name}: {exc}") from None
            api = ApiClient(configuration=configuration)
            stack.push_async_callback(api.close)
            clusters.append(Cluster(source, KubeClient(api, timeout=timeout)))
        yield clusters
