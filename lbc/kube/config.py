"""Where the Kubernetes API is and who we are to it: kubeconfig or in-cluster service account.

Resolution order (``lbc.settings.Settings``): ``LBC_KUBECONFIG``, else ``KUBECONFIG``, else the
in-cluster service account. ``LBC_KUBE_CONTEXT`` picks a kubeconfig context. Only the first path
of a ``KUBECONFIG`` list is read, as kubectl does for writes.

Exec credential plugins (``aws eks get-token``) mint tokens that expire within minutes, so the
loader's token is refreshed from a request hook at most every ``EXEC_TOKEN_REFRESH`` seconds;
kubernetes_asyncio would otherwise keep sending the first token until the API server refuses it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, kube_config
from kubernetes_asyncio.config.incluster_config import load_incluster_config

from lbc.core.errors import TerminalError
from lbc.settings import Settings

EXEC_TOKEN_REFRESH = 300.0
"""Seconds between exec-plugin token refreshes (EKS tokens live 15 minutes)."""

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


async def load_configuration(
    kubeconfig: str | None = None, context: str | None = None
) -> Configuration:
    """A client ``Configuration`` from a kubeconfig path, or from the in-cluster account.

    Raises ``TerminalError`` (reason ``KubeConfigInvalid``) when neither source is usable:
    retrying cannot help until the deployment is fixed.
    """
    configuration = Configuration()
    if kubeconfig:
        _check_kubeconfig(kubeconfig.split(os.pathsep)[0])
    try:
        if kubeconfig:
            path = kubeconfig.split(os.pathsep)[0]
            loader = await kube_config.load_kube_config(
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            user = getattr(loader, "_user", None)  # the loader keeps its user node private
            if user is not None and "exec" in user:
                _install_exec_refresh(configuration, loader)
        else:
            # kubernetes_asyncio ships this loader without annotations.
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        # The loader's own words, minus its internals: a kubeconfig without current-context
        # is a choice of context to make, not a missing key.
        detail = str(exc)
        if "current-context" in detail:
            detail = "it names no current-context; set LBC_KUBE_CONTEXT or its current-context"
        source = kubeconfig or "in-cluster service account"
        raise TerminalError(
            f"cannot load Kubernetes credentials from {source}: {detail}",
            reason="KubeConfigInvalid",
        ) from exc
    return configuration


def _check_kubeconfig(path: str) -> None:
    """Refuse a kubeconfig that is missing or empty before the loader sees it.

    kubernetes_asyncio prints a line of its own for a missing file and fails on an empty one
    with a traceback; the daemon's start-up must end in one JSON line naming the path.
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        problem = "the file does not exist"
    except OSError as exc:
        problem = f"the file cannot be read ({exc.strerror})"
    else:
        problem = "the file is empty" if size == 0 else ""
    if problem:
        raise TerminalError(
            f"cannot load Kubernetes credentials from {path}: {problem}",
            reason="KubeConfigInvalid",
        )


async def api_client_from_settings(settings: Settings) -> ApiClient:
    """An ``ApiClient`` configured from ``LBC_KUBECONFIG`` / ``KUBECONFIG`` / in-cluster."""
    configuration = await load_configuration(settings.kubeconfig, settings.kube_context)
    return ApiClient(configuration=configuration)


def in_cluster_namespace(default: str = "default") -> str:
    """``POD_NAMESPACE``, else the service account's namespace file, else ``default``."""
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError:
        return default
    return text or default


def _install_exec_refresh(configuration: Configuration, loader: Any) -> None:
    refreshed_at = time.monotonic()

    async def refresh(config: Configuration, *_args: Any) -> None:
        nonlocal refreshed_at
        now = time.monotonic()
        if now - refreshed_at < EXEC_TOKEN_REFRESH:
            return
        refreshed_at = now
        await loader.load_from_exec_plugin()
        config.api_key["BearerToken"] = loader.token

    configuration.refresh_api_key_hook = refresh
