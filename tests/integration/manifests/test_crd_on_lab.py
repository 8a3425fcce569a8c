"""The CRD and the rendered install, applied with kubectl to the lab API server.

What the schema-only tests cannot show: that an API server registers the CRD as written, serves
both versions, prints the columns, answers 422 naming the field for bad bindings, refuses the
seed document's printed binding on its name, and accepts every object ``kubectl kustomize``
renders. Objects of an API group the lab does not serve yet are skipped by name, so they start
being checked as soon as it does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from lbc_lab.apiserver.server import LabApiServer
from tests.integration.manifests.layout import (
    CRD_FILE,
    EXAMPLES,
    INVALID_EXAMPLES,
    KUBECTL,
    MANIFESTS,
    NEEDS_KUBECTL,
    Obj,
    example_files,
    load_documents,
    render,
)

pytestmark = NEEDS_KUBECTL

KUBECTL_DEADLINE = 30.0


async def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit code and combined output of one kubectl command against the lab."""
    assert KUBECTL is not None
    with anyio.fail_after(KUBECTL_DEADLINE):
        done = await anyio.run_process(
            [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
            input=stdin.encode() if stdin is not None else None,
            check=False,
        )
    return done.returncode, (done.stdout + done.stderr).decode()


async def apply(kubeconfig: Path, *documents: Obj) -> tuple[int, str]:
    return await kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents))


async def install_crd(kubeconfig: Path) -> None:
    """The CRD, and the examples' namespace for the bindings to live in."""
    code, out = await kubectl(kubeconfig, "apply", "-f", str(CRD_FILE))
    assert code == 0, out
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echoserver"}}
    code, out = await apply(kubeconfig, namespace)
    assert code == 0, out


def _seed_binding(name: str = "bad") -> Obj:
    (binding,) = load_documents(EXAMPLES / "tgb-cluster-b.yaml")
    binding["metadata"]["name"] = name
    return binding


async def _create_raw(api: LabApiServer, binding: Obj, version: str = "v1beta1") -> tuple[int, Any]:
    """POST a binding with the admin token; (HTTP status, decoded JSON body)."""
    import aiohttp

    namespace = binding["metadata"]["namespace"]
    url = f"{api.url}/apis/elbv2.k8s.aws/{version}/namespaces/{namespace}/targetgroupbindings"
    config = yaml.safe_load(api.kubeconfig_path.read_text())
    token = config["users"][0]["user"]["token"]
    timeout = aiohttp.ClientTimeout(total=KUBECTL_DEADLINE)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, json=binding, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status, json.loads(await resp.read())


async def test_lab_accepts_the_crd_and_every_example(lab_apiserver: LabApiServer) -> None:
    kubeconfig = lab_apiserver.kubeconfig_path
    code, out = await kubectl(kubeconfig, "apply", "-f", str(CRD_FILE))
    assert code == 0, out
    for path in example_files():
        code, out = await kubectl(kubeconfig, "apply", "-f", str(path))
        assert code == 0, f"{path.name}: {out}"
    code, out = await kubectl(kubeconfig, "get", "targetgroupbindings", "-A", "-o", "wide")
    assert code == 0, out
    header, *rows = out.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "ARN", "AGE"
    ]  # fmt: skip
    assert sorted(row.split()[1] for row in rows) == [
        "k8s-echoserv-echoserv-cc0122e143",
        "my-target-group-binding",
    ]
    code, out = await kubectl(kubeconfig, "get", "targetgroupbindings", "-A")
    assert "ARN" not in out.splitlines()[0], "ARN is a priority-1 column: only with -o wide"


async def test_printed_seed_binding_is_rejected_on_its_name(lab_apiserver: LabApiServer) -> None:
    kubeconfig = lab_apiserver.kubeconfig_path
    await install_crd(kubeconfig)
    (printed,) = load_documents(INVALID_EXAMPLES / "tgb-cluster-b-as-printed.yaml")
    status, body = await _create_raw(lab_apiserver, printed)
    assert status == 422
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name"]


NO_TARGET_GROUP = ("targetGroupARN", "targetGroupName")
INVALID = [
    ("bad-target-type", {"targetType": "lambda"}, (), ["spec.targetType"]),
    ("neither-arn-nor-name", {}, NO_TARGET_GROUP, ["spec", "spec.targetGroupARN"]),
    ("bad-vpc-id", {"vpcID": "vpc-123"}, (), ["spec.vpcID"]),
]


@pytest.mark.parametrize(
    ("changes", "removed", "fields"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID]
)
async def test_invalid_bindings_are_rejected_naming_the_field(
    lab_apiserver: LabApiServer,
    changes: dict[str, str],
    removed: tuple[str, ...],
    fields: list[str],
) -> None:
    await install_crd(lab_apiserver.kubeconfig_path)
    binding = _seed_binding()
    binding["spec"].update(changes)
    for field in removed:
        binding["spec"].pop(field, None)
    status, body = await _create_raw(lab_apiserver, binding)
    assert status == 422, body
    assert body["reason"] == "Invalid"
    assert sorted(c["field"] for c in body["details"]["causes"]) == fields


async def test_v1alpha1_objects_are_served_as_v1beta1(lab_apiserver: LabApiServer) -> None:
    await install_crd(lab_apiserver.kubeconfig_path)
    binding = _seed_binding("old")
    binding["apiVersion"] = "elbv2.k8s.aws/v1alpha1"
    for field in ("ipAddressType", "vpcID"):
        binding["spec"].pop(field, None)
    status, body = await _create_raw(lab_apiserver, binding, "v1alpha1")
    assert status == 201, body
    code, out = await kubectl(
        lab_apiserver.kubeconfig_path,
        "get", "targetgroupbindings.v1beta1.elbv2.k8s.aws", "-n", "echoserver", "old", "-o", "json",
    )  # fmt: skip
    assert code == 0, out
    stored = json.loads(out)
    assert stored["apiVersion"] == "elbv2.k8s.aws/v1beta1"
    assert stored["spec"]["serviceRef"] == binding["spec"]["serviceRef"]


def _install_objects() -> list[tuple[str, Obj]]:
    if KUBECTL is None:
        return []
    seen: dict[str, Obj] = {}
    for overlay in ("prometheus", "webhook"):
        for obj in render(MANIFESTS / "overlays" / overlay):
            seen.setdefault(f"{obj['kind']}/{obj['metadata']['name']}", obj)
    return sorted(seen.items())


INSTALL = _install_objects()


def _kept(applied: Any, stored: Any) -> bool:
    """Every field of ``applied`` is in ``stored`` with its value (lists element by element)."""
    if isinstance(applied, dict):
        return isinstance(stored, dict) and all(
            k in stored and _kept(v, stored[k]) for k, v in applied.items()
        )
    if isinstance(applied, list):
        return (
            isinstance(stored, list)
            and len(applied) == len(stored)
            and all(_kept(a, b) for a, b in zip(applied, stored, strict=True))
        )
    return bool(applied == stored)


@pytest.mark.parametrize("obj", [o for _, o in INSTALL], ids=[i for i, _ in INSTALL])
async def test_lab_accepts_every_rendered_object(lab_apiserver: LabApiServer, obj: Obj) -> None:
    kubeconfig = lab_apiserver.kubeconfig_path
    code, out = await kubectl(kubeconfig, "api-versions")
    assert code == 0, out
    if obj["apiVersion"] not in out.split():
        pytest.skip(f"the lab does not serve {obj['apiVersion']} yet")
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lbc-system"}}
    if obj["kind"] != "Namespace":
        code, out = await apply(kubeconfig, namespace)
        assert code == 0, out
    code, out = await apply(kubeconfig, copy.deepcopy(obj))
    assert code == 0, out
    kind = obj["kind"].lower()
    where = ["-n", obj["metadata"]["namespace"]] if "namespace" in obj["metadata"] else []
    code, out = await kubectl(
        kubeconfig, "get", kind, obj["metadata"]["name"], *where, "-o", "json"
    )
    assert code == 0, out
    stored = json.loads(out)
    for field, value in obj.items():
        if field not in {"apiVersion", "kind", "metadata"}:
            # Kept as applied; the server may add what it defaults or allocates (cluster IPs).
            assert _kept(value, stored.get(field)), field
    assert obj["metadata"].get("labels", {}).items() <= stored["metadata"].get("labels", {}).items()
