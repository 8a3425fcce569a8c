"""List semantics: list resourceVersion, label and field selectors, limit/continue."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer


def pod(
    name: str, labels: dict[str, str], node: str = "n1", phase: str = "Running"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase},
    }


@pytest.fixture
def pods(lab_apiserver: LabApiServer) -> LabApiServer:
    lab_apiserver.create(pod("web-1", {"app": "web", "tier": "front"}))
    lab_apiserver.create(pod("web-2", {"app": "web", "tier": "back"}, node="n2"))
    lab_apiserver.create(pod("db-1", {"app": "db"}, phase="Pending"))
    lab_apiserver.create(pod("bare", {}))
    return lab_apiserver


# Label selectors are tried on a namespaced list, field selectors on the list across namespaces.
LABEL_SELECTED = [
    ("app=web", ["web-1", "web-2"]),
    ("app==web", ["web-1", "web-2"]),
    ("app!=web", ["bare", "db-1"]),
    ("app in (web,db)", ["db-1", "web-1", "web-2"]),
    ("app notin (web)", ["bare", "db-1"]),
    ("tier", ["web-1", "web-2"]),
    ("!tier", ["bare", "db-1"]),
    ("app=web,tier=back", ["web-2"]),
    ("app=web, tier notin (back)", ["web-1"]),
]
FIELD_SELECTED = [
    ("metadata.name=web-2", ["web-2"]),
    ("metadata.name!=web-2", ["bare", "db-1", "web-1"]),
    ("metadata.namespace=default,spec.nodeName=n2", ["web-2"]),
    ("status.phase=Pending", ["db-1"]),
]


@pytest.mark.parametrize(
    ("selects", "selector", "expected"),
    [("label", *case) for case in LABEL_SELECTED] + [("field", *case) for case in FIELD_SELECTED],
)
async def test_selectors_filter_lists(
    pods: LabApiServer,
    kube_api_client: client.ApiClient,
    selects: str,
    selector: str,
    expected: list[str],
) -> None:
    core = client.CoreV1Api(kube_api_client)
    if selects == "label":
        listed = await core.list_namespaced_pod("default", label_selector=selector)
    else:
        listed = await core.list_pod_for_all_namespaces(field_selector=selector)
    assert [p.metadata.name for p in listed.items] == expected


@pytest.mark.parametrize(
    ("lister", "selector", "says"),
    [
        pytest.param(
            "list_namespaced_config_map",
            {"field_selector": "data.k=v"},
            "field label not supported: data.k",
            id="unsupported-field-selector",
        ),
        pytest.param(
            "list_namespaced_pod",
            {"label_selector": "app in web"},
            "unable to parse requirement",
            id="malformed-label-selector",
        ),
    ],
)
async def test_a_selector_it_cannot_apply_is_400(
    pods: LabApiServer,
    kube_api_client: client.ApiClient,
    lister: str,
    selector: dict[str, str],
    says: str,
) -> None:
    listing = getattr(client.CoreV1Api(kube_api_client), lister)
    with pytest.raises(ApiException) as info:
        await listing("default", **selector)
    assert info.value.status == 400
    assert says in info.value.body


async def test_limit_and_continue_page_through_everything_once(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    for i in range(25):
        lab_apiserver.create(pod(f"p{i:02d}", {"i": str(i % 2)}))
    core = client.CoreV1Api(kube_api_client)
    names: list[str] = []
    token = None
    pages = 0
    versions = set()
    while True:
        page = await core.list_namespaced_pod("default", limit=10, _continue=token)
        pages += 1
        versions.add(page.metadata.resource_version)
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == 25 - len(names)
    assert pages == 3
    assert names == [f"p{i:02d}" for i in range(25)]
    assert len(versions) == 1, "pages of one list report the list's resourceVersion"
    evens: list[str] = []
    token = None
    while True:
        page = await core.list_namespaced_pod(
            "default", limit=4, label_selector="i=0", _continue=token
        )
        evens += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert evens == [f"p{i:02d}" for i in range(0, 25, 2)]


async def test_continue_older_than_the_history_is_410(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    for i in range(3):
        lab_apiserver.create(pod(f"p{i}", {}))
    core = client.CoreV1Api(kube_api_client)
    page = await core.list_namespaced_pod("default", limit=1)
    lab_apiserver.create(pod("later", {}))
    lab_apiserver.faults.expire_history()
    with pytest.raises(ApiException) as info:
        await core.list_namespaced_pod("default", limit=1, _continue=page.metadata._continue)
    assert info.value.status == 410
    assert '"reason":"Expired"' in info.value.body


async def test_list_across_namespaces(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    lab_apiserver.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}})
    lab_apiserver.create({**pod("x", {}), "metadata": {"name": "x", "namespace": "b"}})
    lab_apiserver.create(pod("y", {}))
    core = client.CoreV1Api(kube_api_client)
    every = await core.list_pod_for_all_namespaces()
    assert [(p.metadata.namespace, p.metadata.name) for p in every.items] == [
        ("b", "x"),
        ("default", "y"),
    ]
    only_b = await core.list_namespaced_pod("b")
    assert [p.metadata.name for p in only_b.items] == ["x"]
