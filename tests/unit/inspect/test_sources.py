"""Which clusters ``--context`` and ``--kubeconfig`` name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lbc.inspect.sources import ClusterSource, UsageError, open_clusters, resolve_sources


def kubeconfig(path: Path, *contexts: str, current: str | None = None) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": c, "cluster": {"server": f"http://127.0.0.1:1/{c}"}} for c in contexts
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
        "current-context": current or contexts[0],
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_contexts_pick_clusters_of_one_kubeconfig(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", "a", "b")
    assert resolve_sources([path], ["a", "b"], None) == [
        ClusterSource("a", path, "a"),
        ClusterSource("b", path, "b"),
    ]


def test_the_configured_kubeconfig_is_the_default(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", "prod", current="prod")
    assert resolve_sources([], [], path) == [ClusterSource("prod", path, None)]


def test_several_kubeconfigs_with_the_same_context_name_are_told_apart_by_file(
    tmp_path: Path,
) -> None:
    one = kubeconfig(tmp_path / "east.yaml", "lab")
    two = kubeconfig(tmp_path / "west.yaml", "lab")
    assert [s.name for s in resolve_sources([one, two], [], None)] == ["east", "west"]


def test_contexts_and_several_kubeconfigs_together_are_refused(tmp_path: Path) -> None:
    one = kubeconfig(tmp_path / "one", "a")
    two = kubeconfig(tmp_path / "two", "b")
    with pytest.raises(UsageError, match="several --kubeconfig"):
        resolve_sources([one, two], ["a"], None)


def test_a_context_named_twice_is_refused(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", "a")
    with pytest.raises(UsageError, match="given twice"):
        resolve_sources([path], ["a", "a"], None)


async def test_an_unknown_context_is_a_usage_error_before_any_request(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", "a")
    sources = resolve_sources([path], ["a", "nope"], None)
    with pytest.raises(UsageError, match="cluster nope"):
        async with open_clusters(sources, timeout=1):
            pytest.fail("clients were opened for an unknown context")
