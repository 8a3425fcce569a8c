"""The stack identity: the tag values and binding labels LBC finds its resources by."""

from __future__ import annotations

from lbc.core.stack.model import (
    CLUSTER_TAG,
    BuildError,
    HandsOff,
    StackId,
    StackKind,
    empty_stack,
)


def test_implicit_ingress_group_is_tagged_with_namespace_and_name() -> None:
    sid = StackId(StackKind.INGRESS, "echoserver", "echoserver")
    assert sid.value == "echoserver/echoserver"
    assert dict(sid.stack_tags("c1")) == {
        CLUSTER_TAG: "c1",
        "ingress.k8s.aws/stack": "echoserver/echoserver",
    }
    assert sid.resource_tag == "ingress.k8s.aws/resource"


def test_implicit_group_bindings_carry_namespace_and_name_labels() -> None:
    sid = StackId(StackKind.INGRESS, "echoserver", "echoserver")
    assert dict(sid.binding_labels()) == {
        "ingress.k8s.aws/stack-namespace": "echoserver",
        "ingress.k8s.aws/stack-name": "echoserver",
    }


def test_explicit_group_is_tagged_and_labelled_with_the_group_name_only() -> None:
    sid = StackId(StackKind.INGRESS, "", "shared")
    assert sid.explicit
    assert dict(sid.stack_tags("c1"))["ingress.k8s.aws/stack"] == "shared"
    assert sid.binding_labels() == (("ingress.k8s.aws/stack", "shared"),)


def test_service_stack_uses_the_service_prefix_and_legacy_cluster_key() -> None:
    sid = StackId(StackKind.SERVICE, "default", "web")
    assert dict(sid.stack_tags("c1")) == {CLUSTER_TAG: "c1", "service.k8s.aws/stack": "default/web"}
    assert dict(sid.legacy_stack_tags("c1")) == {
        "ingress.k8s.aws/cluster": "c1",
        "service.k8s.aws/stack": "default/web",
    }
    assert dict(sid.binding_labels()) == {
        "service.k8s.aws/stack-namespace": "default",
        "service.k8s.aws/stack-name": "web",
    }


def test_empty_stack_means_delete_everything_under_its_tags() -> None:
    stack = empty_stack(StackId(StackKind.SERVICE, "default", "web"), "c1")
    assert stack.empty
    assert stack.tags == stack.id.stack_tags("c1")


def test_build_outcomes_carry_event_reason_and_named_keys() -> None:
    assert BuildError("boom").reason == "FailedBuildModel"
    off = HandsOff(("alb.ingress.kubernetes.io/certificate-arn",), ("Ingress ns/a",))
    assert "alb.ingress.kubernetes.io/certificate-arn" in off.message
    assert "Ingress ns/a" in off.message
