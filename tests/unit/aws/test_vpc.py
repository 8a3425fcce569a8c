"""Which addresses lie inside a VPC (the AvailabilityZone "all" rule's input)."""

from __future__ import annotations

import ipaddress

import pytest
from lbc.aws.vpc import VpcRanges, _networks


def test_ipv4_and_ipv6_blocks_of_a_vpc_answer_membership() -> None:
    ranges = VpcRanges(
        "vpc-1",
        _networks(
            [
                {
                    "CidrBlock": "10.0.0.0/16",
                    "CidrBlockAssociationSet": [
                        {"CidrBlock": "10.0.0.0/16", "CidrBlockState": {"State": "associated"}},
                        {"CidrBlock": "100.64.0.0/16", "CidrBlockState": {"State": "associated"}},
                        {"CidrBlock": "172.16.0.0/16", "CidrBlockState": {"State": "failed"}},
                    ],
                    "Ipv6CidrBlockAssociationSet": [
                        {
                            "Ipv6CidrBlock": "2600:1f18::/56",
                            "Ipv6CidrBlockState": {"State": "associated"},
                        }
                    ],
                }
            ]
        ),
    )
    assert ranges.contains("10.0.200.1")
    assert ranges.contains("100.64.3.4")  # secondary CIDR (custom pod networking)
    assert not ranges.contains("172.16.0.5")  # a failed association routes nothing
    assert not ranges.contains("192.168.1.1")
    assert ranges.contains("2600:1f18::17")
    assert not ranges.contains("2600:1f19::17")


def test_a_vpc_we_cannot_see_contains_nothing() -> None:
    assert not VpcRanges("vpc-peer", ()).contains("10.0.0.1")


def test_a_non_address_is_refused() -> None:
    ranges = VpcRanges("vpc-1", (ipaddress.ip_network("10.0.0.0/16"),))
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        ranges.contains("i-0123456789abcdef0")
