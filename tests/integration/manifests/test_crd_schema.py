"""The TargetGroupBinding CRD, checked without an API server.

The schema is evaluated with a JSON Schema validator (the subset of OpenAPI v3 that CRDs use is
JSON Schema), so the examples and the bad bindings are judged by exactly the keywords a real API
server enforces: types, enums, patterns, required and anyOf. Tests against the lab API server live
in test_crd_on_lab.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.integration.manifests.layout import (
    INVALID_EXAMPLES,
    Obj,
    crd_versions,
    example_files,
    load_documents,
    walk_schema,
)

V1ALPHA1_MISSING_SPEC = {"nodeSelector", "ipAddressType", "vpcID", "targetGroupProtocol"}


def _schema(version: str) -> Obj:
    schema: Obj = crd_versions()[version]["schema"]["openAPIV3Schema"]
    return schema


def _errors(binding: Obj, version: str = "v1beta1") -> list[tuple[str, str]]:
    """(dotted path, failed keyword) of every schema violation of ``binding``."""
    validator = Draft7Validator(_schema(version))
    return sorted(
        (".".join(str(p) for p in err.absolute_path), str(err.validator))
        for err in validator.iter_errors(binding)
    )


def _seed_binding() -> Obj:
    (binding,) = load_documents(next(p for p in example_files() if p.name == "tgb-cluster-a.yaml"))
    return binding


def test_v1beta1_is_stored_and_both_versions_are_served() -> None:
    versions = crd_versions()
    assert set(versions) == {"v1alpha1", "v1beta1"}
    assert all(v["served"] for v in versions.values())
    assert [name for name, v in versions.items() if v["storage"]] == ["v1beta1"]


def test_v1alpha1_is_v1beta1_without_the_newer_fields() -> None:
    beta, alpha = _schema("v1beta1"), _schema("v1alpha1")
    beta_spec = copy.deepcopy(beta["properties"]["spec"])
    for field in V1ALPHA1_MISSING_SPEC:
        del beta_spec["properties"][field]
    assert alpha["properties"]["spec"] == beta_spec
    beta_status = copy.deepcopy(beta["properties"]["status"])
    del beta_status["properties"]["conditions"]
    assert alpha["properties"]["status"] == beta_status


def test_both_versions_have_the_status_subresource_and_printer_columns() -> None:
    for version in crd_versions().values():
        assert version["subresources"] == {"status": {}}
        columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
        assert list(columns) == ["SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "ARN", "AGE"]
        assert columns["ARN"]["priority"] == 1
        assert columns["ARN"]["jsonPath"] == ".spec.targetGroupARN"
        assert columns["AGE"]["type"] == "date"


def test_schema_is_structural() -> None:
    # What the API server demands of a structural schema: a type on every node (int-or-string
    # excepted), and logical junctors that only restate value validations, never types.
    for version in ("v1alpha1", "v1beta1"):
        for path, node in walk_schema(_schema(version)):
            if node.get("x-kubernetes-int-or-string"):
                assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
                continue
            assert "type" in node, f"{version} {path} has no type"
            for branch in node.get("anyOf", []) + node.get("oneOf", []):
                assert "type" not in branch, f"{version} {path}: a junctor declares a type"
                for prop in branch.get("properties", {}):
                    assert prop in node["properties"], f"{version} {path}: {prop} only in anyOf"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_seed_bindings_satisfy_the_schema(path: Any) -> None:
    bindings = [d for d in load_documents(path) if d["kind"] == "TargetGroupBinding"]
    for binding in bindings:
        assert binding["apiVersion"] == "elbv2.k8s.aws/v1beta1"
        assert _errors(binding) == []


def test_printed_seed_binding_is_kept_as_an_invalid_example() -> None:
    (binding,) = load_documents(INVALID_EXAMPLES / "tgb-cluster-b-as-printed.yaml")
    # Its schema is fine; what a real API server refuses is the name (not a DNS-1123 subdomain).
    assert _errors(binding) == []
    assert binding["metadata"]["name"] == "MyTargetGroupBinding"


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def apply(binding: Obj) -> None:
        *parents, leaf = path.split(".")
        node = binding
        for part in parents:
            node = node[part]
        node[leaf] = value

    return apply


def _drop(*fields: str) -> Callable[[Obj], None]:
    def apply(binding: Obj) -> None:
        for field in fields:
            binding["spec"].pop(field, None)

    return apply


INVALID = [
    ("bad-target-type", _set("spec.targetType", "lambda"), [("spec.targetType", "enum")]),
    (
        "neither-arn-nor-name",
        _drop("targetGroupARN", "targetGroupName"),
        [("spec", "anyOf")],
    ),
    (
        "empty-arn-and-no-name",
        _set("spec.targetGroupARN", ""),
        [("spec", "anyOf")],
    ),
    ("bad-vpc-id", _set("spec.vpcID", "vpc-123"), [("spec.vpcID", "pattern")]),
    ("upper-case-vpc-id", _set("spec.vpcID", "vpc-0A7EF5BD8943067A8"), [("spec.vpcID", "pattern")]),
    (
        "bad-ip-address-type",
        _set("spec.ipAddressType", "dualstack"),
        [("spec.ipAddressType", "enum")],
    ),
    (
        "bad-protocol",
        _set("spec.targetGroupProtocol", "GRPC"),
        [("spec.targetGroupProtocol", "enum")],
    ),
    ("no-service-ref", _drop("serviceRef"), [("spec", "required")]),
    ("port-as-list", _set("spec.serviceRef.port", [80]), [("spec.serviceRef.port", "anyOf")]),
    (
        "rule-protocol-icmp",
        lambda b: b["spec"]["networking"]["ingress"][0]["ports"][0].update(protocol="ICMP"),
        [("spec.networking.ingress.0.ports.0.protocol", "enum")],
    ),
    (
        "rule-without-ports",
        lambda b: b["spec"]["networking"]["ingress"][0].pop("ports"),
        [("spec.networking.ingress.0", "required")],
    ),
    (
        "multicluster-as-string",
        _set("spec.multiClusterTargetGroup", "yes"),
        [("spec.multiClusterTargetGroup", "type")],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID]
)
def test_invalid_bindings_are_rejected_naming_the_field(
    mutate: Callable[[Obj], None], expected: list[tuple[str, str]]
) -> None:
    binding = _seed_binding()
    mutate(binding)
    assert _errors(binding) == expected


def test_name_alone_is_enough_to_find_the_target_group() -> None:
    binding = _seed_binding()
    del binding["spec"]["targetGroupARN"]
    binding["spec"]["targetGroupName"] = "k8s-echoserv-echoserv-cc0122e143"
    assert _errors(binding) == []


@pytest.mark.parametrize("port", [80, "http"])
def test_service_and_rule_ports_take_numbers_or_names(port: int | str) -> None:
    binding = _seed_binding()
    binding["spec"]["serviceRef"]["port"] = port
    binding["spec"]["networking"]["ingress"][0]["ports"][0]["port"] = port
    assert _errors(binding) == []


def test_v1alpha1_refuses_nothing_it_used_to_accept() -> None:
    # An LBC v1alpha1 object: no vpcID, ipAddressType, protocol or nodeSelector.
    binding = _seed_binding()
    binding["apiVersion"] = "elbv2.k8s.aws/v1alpha1"
    for field in ("vpcID", "ipAddressType"):
        del binding["spec"][field]
    assert _errors(binding, "v1alpha1") == []


def test_status_accepts_what_lbc_writes() -> None:
    binding = _seed_binding()
    binding["status"] = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "TargetGroupNotFound",
                "message": "target group not found",
                "lastTransitionTime": "2026-11-24T15:00:00Z",
                "observedGeneration": 3,
            }
        ],
        "targets": {"desired": 3, "registered": 2, "healthy": 1},
    }
    assert _errors(binding) == []
    binding["status"]["conditions"][0]["status"] = "Maybe"
    binding["status"]["targets"]["healthy"] = -1
    assert _errors(binding) == [
        ("status.conditions.0.status", "enum"),
        ("status.targets.healthy", "minimum"),
    ]
