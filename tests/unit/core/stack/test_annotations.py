"""Annotation values parse exactly as LBC parses them, and unknown keys mean hands-off."""

from __future__ import annotations

import pytest
from lbc.core.stack.annotations import (
    AnnotationError,
    delete_shared_stack_consent,
    ingress_annotations,
    parse_bool,
    parse_int32,
    parse_string_map,
    split_list,
    unsupported_backend_keys,
    unsupported_ingress_keys,
    unsupported_service_keys,
)

ING = "alb.ingress.kubernetes.io/"
SVC = "service.beta.kubernetes.io/"


@pytest.mark.parametrize("raw", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_true_spellings_are_true(raw: str) -> None:
    assert parse_bool("k", raw) is True


@pytest.mark.parametrize("raw", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_false_spellings_are_false(raw: str) -> None:
    assert parse_bool("k", raw) is False


@pytest.mark.parametrize("raw", ["yes", "on", "", " true", "tRUE", "2"])
def test_other_boolean_spellings_are_errors_not_truthiness(raw: str) -> None:
    with pytest.raises(AnnotationError, match="failed to parse bool annotation, k: "):
        parse_bool("k", raw)


@pytest.mark.parametrize(
    ("raw", "value"), [("15", 15), ("-3", -3), ("+7", 7), ("007", 7), ("2147483647", 2**31 - 1)]
)
def test_int32_accepts_base_ten(raw: str, value: int) -> None:
    assert parse_int32("k", raw) == value


@pytest.mark.parametrize("raw", ["2147483648", "-2147483649"])
def test_int32_out_of_range_is_an_error(raw: str) -> None:
    with pytest.raises(AnnotationError, match="value out of range"):
        parse_int32("k", raw)


@pytest.mark.parametrize("raw", ["", " 1", "1_000", "0x10", "1.0", "\u0661"])
def test_int32_syntax_errors(raw: str) -> None:
    with pytest.raises(AnnotationError, match="invalid syntax"):
        parse_int32("k", raw)


def test_string_map_trims_keys_and_values() -> None:
    assert parse_string_map("k", " Environment = dev , Team=test") == {
        "Environment": "dev",
        "Team": "test",
    }


def test_string_map_keeps_a_comma_that_no_pair_follows() -> None:
    # A comma ends a pair only when an '=' follows somewhere after it.
    assert parse_string_map("k", "a=1,") == {"a": "1,"}


def test_string_map_backslash_escapes_a_comma() -> None:
    assert parse_string_map("k", r"a=x\,y=z,b=2") == {"a": "x,y=z", "b": "2"}


def test_string_map_value_may_contain_equals() -> None:
    assert parse_string_map("k", "a=b=c") == {"a": "b=c"}


def test_empty_string_map_is_empty() -> None:
    assert parse_string_map("k", "") == {}


@pytest.mark.parametrize("raw", ["a=1,b", "=1", "novalue"])
def test_string_map_without_key_or_equals_is_an_error(raw: str) -> None:
    with pytest.raises(AnnotationError, match="failed to parse stringMap annotation, k: "):
        parse_string_map("k", raw)


def test_lists_are_trimmed_and_skip_empty_items() -> None:
    assert split_list(" subnet-1, ,subnet-2 ,") == ("subnet-1", "subnet-2")


def test_typed_lookups_return_none_when_absent() -> None:
    ann = ingress_annotations({ING + "group.order": "10"})
    assert ann.int32("group.order") == 10
    assert ann.boolean("multi-cluster-target-group") is None
    assert ann.string_map("tags") is None


def test_unknown_ingress_keys_mean_hands_off() -> None:
    got = unsupported_ingress_keys(
        {
            ING + "scheme": "internal",
            ING + "certificate-arn": "arn",
            ING + "actions.forward": "{}",
            "kubernetes.io/ingress.class": "alb",
            "other.io/x": "y",
        }
    )
    assert got == (ING + "actions.forward", ING + "certificate-arn")


def test_https_listen_port_means_hands_off() -> None:
    assert unsupported_ingress_keys({ING + "listen-ports": '[{"HTTP":80},{"HTTPS":443}]'}) == (
        ING + "listen-ports",
    )
    assert unsupported_ingress_keys({ING + "listen-ports": '[{"HTTP":8080}]'}) == ()


def test_dual_stack_means_hands_off() -> None:
    assert unsupported_ingress_keys({ING + "ip-address-type": "dualstack"}) == (
        ING + "ip-address-type",
    )
    assert unsupported_ingress_keys({ING + "ip-address-type": "ipv4"}) == ()
    assert unsupported_service_keys({SVC + "aws-load-balancer-ip-address-type": "dualstack"}) == (
        SVC + "aws-load-balancer-ip-address-type",
    )


def test_backend_service_may_only_carry_target_group_keys() -> None:
    got = unsupported_backend_keys(
        {
            ING + "healthcheck-path": "/ping",
            ING + "target-control-port.svc.80": "3000",
            ING + "scheme": "internal",
        }
    )
    assert got == (ING + "scheme", ING + "target-control-port.svc.80")


def test_unknown_nlb_keys_mean_hands_off_but_other_service_keys_do_not() -> None:
    got = unsupported_service_keys(
        {
            SVC + "aws-load-balancer-type": "external",
            SVC + "aws-load-balancer-ssl-cert": "arn",
            SVC + "load-balancer-source-ranges": "10.0.0.0/8",
            "service.kubernetes.io/topology-mode": "Auto",
        }
    )
    assert got == (SVC + "aws-load-balancer-ssl-cert",)


def test_consent_annotation_uses_go_booleans() -> None:
    assert delete_shared_stack_consent({"lbc.k8s.aws/delete-shared-stack": "True"})
    assert not delete_shared_stack_consent({})
    with pytest.raises(AnnotationError):
        delete_shared_stack_consent({"lbc.k8s.aws/delete-shared-stack": "yes"})
