"""Checkpoint hashes in LBC's exact format, and the Go encoding/json bytes of the spec.

Expected JSON strings are written out by hand from Go's rules (struct field order, omitempty,
HTML escaping, sorted map keys) rather than computed, so a slip in the encoder shows up here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from lbc.core.checkpoint import (
    EMPTY_HASH,
    endpoints_hash,
    go_spec_json,
    go_string,
    may_skip,
    sha256_b64url,
    spec_hash,
)


def _reference_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_empty_endpoint_set_hash_matches_the_value_lbc_users_reported() -> None:
    # The value quoted in LBC issue #4223 for a binding with no endpoints.
    assert endpoints_hash([]) == EMPTY_HASH == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_hash_is_43_chars_of_base64url_without_padding() -> None:
    value = sha256_b64url("anything")
    assert len(value) == 43
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_endpoints_hash_sorts_id_port_millis_strings_as_text() -> None:
    endpoints = [("10.0.0.2:8080", 1_700_000_000_000), ("10.0.0.10:8080", 1_600_000_000_000)]
    # "10.0.0.10:…" sorts before "10.0.0.2:…" as text.
    expected = _reference_hash("10.0.0.10:8080:1600000000000,10.0.0.2:8080:1700000000000")
    assert endpoints_hash(endpoints) == expected
    assert endpoints_hash(reversed(endpoints)) == expected


def test_endpoints_hash_changes_when_a_pod_is_recreated_with_the_same_ip() -> None:
    before = endpoints_hash([("10.0.0.2:8080", 1_700_000_000_000)])
    after = endpoints_hash([("10.0.0.2:8080", 1_700_000_001_000)])
    assert before != after


EXAMPLE_SPEC: dict[str, Any] = {
    "ipAddressType": "ipv4",
    "multiClusterTargetGroup": True,
    "networking": {
        "ingress": [
            {
                "from": [{"securityGroup": {"groupID": "sg-06a2bd7d790ac1d2e"}}],
                "ports": [{"port": 32197, "protocol": "TCP"}],
            }
        ]
    },
    "serviceRef": {"name": "echoserver", "port": 80},
    "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:565768096483:targetgroup/"
    "k8s-echoserv-echoserv-cc0122e143/6816b87346280ee7",
    "targetType": "instance",
    "vpcID": "vpc-0a7ef5bd8943067a8",
}
EXAMPLE_JSON = (
    '{"targetGroupARN":"arn:aws:elasticloadbalancing:us-east-1:565768096483:targetgroup/'
    'k8s-echoserv-echoserv-cc0122e143/6816b87346280ee7",'
    '"multiClusterTargetGroup":true,"targetType":"instance",'
    '"serviceRef":{"name":"echoserver","port":80},'
    '"networking":{"ingress":[{"from":[{"securityGroup":{"groupID":"sg-06a2bd7d790ac1d2e"}}],'
    '"ports":[{"protocol":"TCP","port":32197}]}]},'
    '"ipAddressType":"ipv4","vpcID":"vpc-0a7ef5bd8943067a8"}'
)


def test_spec_json_follows_go_struct_order_not_input_order() -> None:
    assert go_spec_json(EXAMPLE_SPEC) == EXAMPLE_JSON
    assert spec_hash(EXAMPLE_SPEC) == _reference_hash(EXAMPLE_JSON)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"serviceRef": {"name": "web", "port": 80}, "targetGroupARN": "arn:x"},
            '{"targetGroupARN":"arn:x","serviceRef":{"name":"web","port":80}}',
            id="minimal",
        ),
        pytest.param(
            {
                "targetGroupARN": "",
                "targetGroupName": "",
                "multiClusterTargetGroup": False,
                "vpcID": "",
                "serviceRef": {"name": "web", "port": "http"},
            },
            '{"serviceRef":{"name":"web","port":"http"}}',
            id="omitempty-drops-empty-strings-and-false; named port stays a string",
        ),
        pytest.param(
            {"targetType": "", "ipAddressType": "", "serviceRef": {"name": "w", "port": 1}},
            '{"targetType":"","serviceRef":{"name":"w","port":1},"ipAddressType":""}',
            id="pointer-fields-present-but-empty-are-written",
        ),
        pytest.param(
            {"serviceRef": {}},
            '{"serviceRef":{"name":"","port":0}}',
            id="serviceRef-zero-values",
        ),
        pytest.param(
            {"serviceRef": {"name": "w", "port": 1}, "nodeSelector": {}},
            '{"serviceRef":{"name":"w","port":1},"nodeSelector":{}}',
            id="empty-node-selector-pointer",
        ),
        pytest.param(
            {
                "serviceRef": {"name": "w", "port": 1},
                "nodeSelector": {
                    "matchLabels": {"zone": "b", "app": "a"},
                    "matchExpressions": [
                        {"operator": "Exists", "key": "gpu"},
                        {"key": "tier", "operator": "In", "values": ["x", "y"]},
                    ],
                },
            },
            '{"serviceRef":{"name":"w","port":1},"nodeSelector":{"matchLabels":{"app":"a",'
            '"zone":"b"},"matchExpressions":[{"key":"gpu","operator":"Exists"},'
            '{"key":"tier","operator":"In","values":["x","y"]}]}}',
            id="selector-map-keys-sorted-values-omitted-when-empty",
        ),
        pytest.param(
            {
                "serviceRef": {"name": "w", "port": 1},
                "networking": {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
            },
            '{"serviceRef":{"name":"w","port":1},"networking":{"ingress":[{"from":'
            '[{"ipBlock":{"cidr":"10.0.0.0/8"}}],"ports":null}]}}',
            id="absent-ports-slice-is-null",
        ),
        pytest.param(
            {
                "serviceRef": {"name": "w", "port": 1},
                "networking": {"ingress": [{"from": [], "ports": [{}]}]},
            },
            '{"serviceRef":{"name":"w","port":1},"networking":{"ingress":[{"from":[],'
            '"ports":[{}]}]}}',
            id="empty-from-is-an-empty-array-and-port-fields-omitted",
        ),
        pytest.param(
            {"serviceRef": {"name": "w", "port": 1}, "networking": {"ingress": []}},
            '{"serviceRef":{"name":"w","port":1},"networking":{}}',
            id="empty-ingress-omitted",
        ),
        pytest.param(
            {
                "assumeRoleExternalId": "ext",
                "iamRoleArnToAssume": "arn:aws:iam::1:role/r",
                "targetGroupProtocol": "TCP",
                "targetGroupName": "tg",
                "serviceRef": {"name": "w", "port": 1},
            },
            '{"targetGroupName":"tg","targetGroupProtocol":"TCP","serviceRef":{"name":"w",'
            '"port":1},"iamRoleArnToAssume":"arn:aws:iam::1:role/r","assumeRoleExternalId":"ext"}',
            id="late-fields-order",
        ),
    ],
)
def test_spec_json_matches_go_encoding(spec: dict[str, Any], expected: str) -> None:
    assert go_spec_json(spec) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a<b>&c", '"a\\u003cb\\u003e\\u0026c"'),
        ('q"b\\s', '"q\\"b\\\\s"'),
        ("l\nt\tr\r", '"l\\nt\\tr\\r"'),
        ("\x01\x1f", '"\\u0001\\u001f"'),
        ("\b\f", '"\\b\\f"'),
        ("caf\u00e9", '"caf\u00e9"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("\x7f", '"\x7f"'),
    ],
)
def test_strings_are_escaped_like_go_json_marshal(raw: str, expected: str) -> None:
    assert go_string(raw) == expected


def test_unknown_fields_do_not_change_the_spec_hash() -> None:
    # Go drops fields its struct does not declare, so they never reached LBC's hash.
    extended = {**EXAMPLE_SPEC, "somethingNew": {"a": 1}}
    assert spec_hash(extended) == spec_hash(EXAMPLE_SPEC)


def test_skip_needs_a_stored_equal_checkpoint_and_no_pending_gate() -> None:
    assert may_skip("a/b", "a/b", gates_pending=False)
    assert not may_skip("a/b", "a/b", gates_pending=True)
    assert not may_skip("a/c", "a/b", gates_pending=False)
    assert not may_skip("", "", gates_pending=False)
    assert not may_skip(None, "a/b", gates_pending=False)
