"""Where the API server is: kubeconfig files, bad sources, the pod's namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import Configuration
from lbc.core.errors import TerminalError
from lbc.kube import config as kube_config
from lbc.kube.config import api_client_from_settings, in_cluster_namespace, load_configuration
from lbc.settings import Settings


def write_kubeconfig(path: Path) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "one", "cluster": {"server": "http://127.0.0.1:6443"}},
            {"name": "two", "cluster": {"server": "http://127.0.0.1:7443"}},
        ],
        "users": [{"name": "u", "user": {"token": "s3cret"}}],
        "contexts": [
            {"name": "one", "context": {"cluster": "one", "user": "u"}},
            {"name": "two", "context": {"cluster": "two", "user": "u"}},
        ],
        "current-context": "one",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_kubeconfig_current_context_and_token_are_used(tmp_path: Path) -> None:
    config = await load_configuration(str(write_kubeconfig(tmp_path / "kc")))
    assert config.host == "http://127.0.0.1:6443"
    assert config.api_key["BearerToken"].endswith("s3cret")


async def test_lbc_kube_context_picks_another_context(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc")
    settings = Settings(kubeconfig=str(path), kube_context="two")
    api = await api_client_from_settings(settings)
    try:
        assert api.configuration.host == "http://127.0.0.1:7443"
    finally:
        await api.close()


async def test_an_unreadable_kubeconfig_is_terminal(tmp_path: Path) -> None:
    with pytest.raises(TerminalError) as caught:
        await load_configuration(str(tmp_path / "missing"))
    assert caught.value.reason == "KubeConfigInvalid"


async def test_outside_a_cluster_without_kubeconfig_is_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(TerminalError, match="in-cluster"):
        await load_configuration(None)


def test_pod_namespace_comes_from_the_environment_then_the_service_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account = tmp_path / "namespace"
    monkeypatch.setattr(kube_config, "SERVICE_ACCOUNT_NAMESPACE", str(account))
    monkeypatch.setenv("POD_NAMESPACE", "lbc-system")
    assert in_cluster_namespace() == "lbc-system"
    monkeypatch.delenv("POD_NAMESPACE")
    assert in_cluster_namespace("fallback") == "fallback"
    account.write_text("from-account\n")
    assert in_cluster_namespace("fallback") == "from-account"


class ExecLoader:
    """Stands in for kubernetes_asyncio's loader of an exec credential plugin."""

    def __init__(self) -> None:
        self.calls = 0
        self.token = "Bearer t0"

    async def load_from_exec_plugin(self) -> None:
        self.calls += 1
        self.token = f"Bearer t{self.calls}"


async def test_exec_plugin_tokens_are_refreshed_at_most_every_refresh_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(kube_config.time, "monotonic", lambda: now[0])
    configuration = Configuration()
    configuration.api_key["BearerToken"] = "Bearer t0"
    loader = ExecLoader()
    kube_config._install_exec_refresh(configuration, loader)
    assert await configuration.get_api_key_with_prefix("BearerToken") == "Bearer t0"
    now[0] += kube_config.EXEC_TOKEN_REFRESH - 1
    assert await configuration.get_api_key_with_prefix("BearerToken") == "Bearer t0"
    now[0] += 1
    assert await configuration.get_api_key_with_prefix("BearerToken") == "Bearer t1"
    assert await configuration.get_api_key_with_prefix("BearerToken") == "Bearer t1"
    assert loader.calls == 1
