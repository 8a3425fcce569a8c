"""Names byte-for-byte as LBC computes them: the known-answer vectors of LBC's own unit tests."""

from __future__ import annotations

import pytest
from lbc.core.stack import names
from lbc.core.stack.model import StackId, StackKind

IMPLICIT = StackId(StackKind.INGRESS, "awesome-ns", "ing-1")
EXPLICIT = StackId(StackKind.INGRESS, "", "explicit-group")
NLB_UID = "bdca2bd0-bfc6-449a-88a3-03451f05f18c"


def _ingress_tg(port: int | str) -> str:
    # LBC's harness: empty cluster name and an empty group id string.
    return names.ingress_target_group_name(
        cluster="",
        group=StackId(StackKind.INGRESS, "", ""),
        ingress_namespace="ns-1",
        ingress_name="name-1",
        service_namespace="ns-1",
        service_name="name-1",
        service_uid="my-uuid",
        backend_port=port,
        target_group_port=8080,
        target_type="ip",
        protocol="HTTP",
        protocol_version="HTTP1",
    )


def test_ingress_target_group_name_hashes_a_named_backend_port_as_written() -> None:
    assert _ingress_tg("http") == "k8s-ns1-name1-2c37289a00"


def test_ingress_target_group_name_hashes_a_numeric_backend_port_in_decimal() -> None:
    assert _ingress_tg(80) == "k8s-ns1-name1-ab859e54b5"


def test_implicit_group_alb_name_matches_lbc() -> None:
    assert names.alb_name("", IMPLICIT, "internet-facing") == "k8s-awesomen-ing1-43b698093c"


def test_explicit_group_alb_name_keeps_seventeen_characters_of_the_group() -> None:
    assert names.alb_name("", EXPLICIT, "internal") == "k8s-explicitgroup-5bf9e53c23"


def test_nlb_name_matches_lbc() -> None:
    got = names.nlb_name("my-cluster", "default", "nlb-ip-svc-tls", NLB_UID, "internal")
    assert got == "k8s-default-nlbipsvc-6b0ba8ff70"


def test_nlb_target_group_name_matches_lbc() -> None:
    got = names.service_target_group_name(
        cluster="my-cluster",
        namespace="default",
        name="nlb-ip-svc-tls",
        uid=NLB_UID,
        target_group_port=80,
        service_port=80,
        target_type="ip",
        protocol="TCP",
        health_check_protocol="TCP",
        health_check_interval=10,
    )
    assert got == "k8s-default-nlbipsvc-d4818dcd51"


def test_sanitising_keeps_only_ascii_letters_and_digits() -> None:
    # Go's [[:alnum:]] is ASCII-only: accented letters and non-Latin digits are dropped.
    assert names.sanitize("é-a_b.c٣9") == "abc9"


def test_frontend_sg_name_does_not_hash_the_scheme() -> None:
    sg = names.alb_security_group_name("c1", IMPLICIT)
    assert sg == "k8s-awesomen-ing1-" + names.short_hash("c1", "awesome-ns/ing-1")
    assert sg != names.alb_name("c1", IMPLICIT, "internal")


def test_nlb_frontend_sg_hashes_name_before_namespace() -> None:
    sg = names.nlb_security_group_name("c1", "ns", "svc", "uid")
    assert sg == "k8s-ns-svc-" + names.short_hash("c1", "svc", "ns", "uid")


def test_backend_security_group_name_is_cluster_wide() -> None:
    assert names.backend_security_group_name("my.cluster") == (
        "k8s-traffic-mycluster-" + names.short_hash("my.cluster")
    )
    long = "c" * 300
    assert names.backend_security_group_name(long).startswith("k8s-traffic-" + "c" * 232 + "-")


def test_target_control_port_is_hashed_only_when_set() -> None:
    def tg(control: int | None) -> str:
        return names.ingress_target_group_name(
            "c",
            IMPLICIT,
            ingress_namespace="ns",
            ingress_name="i",
            service_namespace="ns",
            service_name="s",
            service_uid="u",
            backend_port=80,
            target_group_port=30080,
            target_type="instance",
            protocol="HTTP",
            protocol_version="HTTP1",
            target_control_port=control,
        )

    hashed = ("c", "awesome-ns/ing-1", "ns", "i", "u", "80", "30080", "instance", "HTTP", "HTTP1")
    assert tg(None) == "k8s-ns-s-" + names.short_hash(*hashed)
    assert tg(3000) == "k8s-ns-s-" + names.short_hash(*hashed, "3000")


@pytest.mark.parametrize("name", ["a" * 32, "é" * 16])
def test_explicit_names_up_to_32_bytes_are_accepted(name: str) -> None:
    assert names.check_explicit_name(name) is None


@pytest.mark.parametrize("name", ["a" * 33, "é" * 17])
def test_explicit_names_over_32_bytes_are_refused_with_lbc_message(name: str) -> None:
    assert names.check_explicit_name(name) == (
        "load balancer name cannot be longer than 32 characters"
    )


def test_resource_ids() -> None:
    assert names.ingress_target_group_id("echoserver", "echoserver", "echoserver", 80) == (
        "echoserver/echoserver-echoserver:80"
    )
    assert names.ingress_target_group_id("a", "b", "svc", "http") == "a/b-svc:http"
    assert names.service_target_group_id("default", "web", 443) == "default/web:443"
    assert names.listener_id(80) == "80"
    assert names.rule_id(80, 1) == "80:1"
