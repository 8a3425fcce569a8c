"""The ledger codec: LBC-compatible, sorted on write, forgiving only where meaning cannot change."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from lbc.core.ledger import (
    LedgerAbsent,
    LedgerCorruptError,
    LedgerNameTooLongError,
    LedgerPresent,
    LedgerUnreadable,
    configmap_name,
    decode,
    encode,
    ledger_state,
)
from lbc.core.targets import Target

from .factories import targets


def test_encoding_is_sorted_by_identity_and_has_no_spaces() -> None:
    value = encode([Target("10.0.0.9", 80), Target("10.0.0.10", 80), Target("i-0abc", 31234)])
    assert value == "10.0.0.10:80,10.0.0.9:80,i-0abc:31234"


def test_empty_set_encodes_as_empty_string() -> None:
    assert encode([]) == ""


def test_encoding_is_deterministic_whatever_the_input_order() -> None:
    a = [Target("10.0.0.1", 1), Target("10.0.0.2", 2), Target("10.0.0.3", 3)]
    assert encode(a) == encode(reversed(a)) == encode(set(a))


def test_decoding_accepts_lbc_unordered_output_with_duplicates() -> None:
    assert decode("10.0.0.2:8080,i-0abc:31234,10.0.0.1:8080,10.0.0.2:8080") == targets(
        "10.0.0.1:8080", "10.0.0.2:8080", "i-0abc:31234"
    )


def test_empty_string_decodes_to_empty_set() -> None:
    assert decode("") == frozenset()


def test_ipv6_identities_round_trip() -> None:
    value = "2600:1f14::5:8080"
    assert decode(value) == {Target("2600:1f14::5", 8080)}
    assert encode(decode(value)) == value


def test_surrounding_whitespace_is_tolerated() -> None:
    assert decode(" 10.0.0.1:80 ,\n10.0.0.2:80\n") == targets("10.0.0.1:80", "10.0.0.2:80")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("10.0.0.1:80,,10.0.0.2:80", "#2"),
        ("10.0.0.1:80,", "#2"),
        ("10.0.0.1:80,10.0.0.2", "'10.0.0.2'"),
        ("10.0.0.1:http", "'10.0.0.1:http'"),
        ("10.0.0.1:-1", "'10.0.0.1:-1'"),
        ("10.0.0.1:0x1a", "'10.0.0.1:0x1a'"),
        ("10.0.0.1:80:0X1A", "'10.0.0.1:80:0X1A'"),
        ("10.0.0.1:70000", "'10.0.0.1:70000'"),
        (":80", "':80'"),
        ("10.0.0.1 10.0.0.2:80", "'10.0.0.1 10.0.0.2:80'"),
        ("10.0.0.1:8080:quic1d", "'10.0.0.1:8080:quic1d'"),
    ],
)
def test_malformed_entry_is_rejected_with_its_name(text: str, named: str) -> None:
    with pytest.raises(LedgerCorruptError) as info:
        decode(text)
    assert named in str(info.value)
    assert info.value.reason == "LedgerCorrupt"


def test_lbc_quic_entries_are_targets_with_their_server_id() -> None:
    # LBC writes <ip>:<port>:<serverId> for QUIC and TCP_QUIC groups (multicluster_manager.go,
    # GetIdentifier(false, true)); it is the target's identity, not corruption.
    value = "10.0.0.1:8080:0x1a2b3c4d5e6f7a8b,2600:1f14::5:443:0x00ff,10.0.0.2:8080"
    assert decode(value) == {
        Target("10.0.0.1", 8080, "0x1a2b3c4d5e6f7a8b"),
        Target("2600:1f14::5", 443, "0x00ff"),
        Target("10.0.0.2", 8080),
    }
    assert encode(decode(value)) == ",".join(sorted(value.split(",")))


def test_lbc_instance_entry_with_port_zero_is_a_target_that_was_never_registerable() -> None:
    # LBC records i-...:0 for an instance binding whose Service had no nodePort yet (it writes
    # the ledger before RegisterTargets, which then fails).
    (target,) = decode("i-0abc123:0")
    assert target == Target("i-0abc123", 0)
    assert not target.registerable
    assert Target("i-0abc123", 31234).registerable


def test_configmap_name_is_prefix_plus_binding_name() -> None:
    assert configmap_name("k8s-echoserv-abc") == "aws-lbc-targets-k8s-echoserv-abc"


def test_configmap_name_at_the_limit_is_accepted_and_one_over_is_a_terminal_error() -> None:
    assert len(configmap_name("a" * 237)) == 253
    with pytest.raises(LedgerNameTooLongError) as info:
        configmap_name("a" * 238)
    assert "254" in str(info.value)


def test_absent_configmap_is_no_ledger() -> None:
    assert isinstance(ledger_state(None), LedgerAbsent)


def test_existing_empty_ledger_is_an_empty_set_not_no_ledger() -> None:
    assert ledger_state({"targets": ""}, "5") == LedgerPresent(frozenset(), "5")


def test_configmap_without_targets_key_is_unreadable() -> None:
    state = ledger_state({"other": "x"}, "5")
    assert isinstance(state, LedgerUnreadable)
    assert "targets" in state.message


def test_corrupt_value_is_unreadable_and_names_the_entry() -> None:
    state = ledger_state({"targets": "10.0.0.1:80,bogus"}, "9")
    assert isinstance(state, LedgerUnreadable)
    assert "'bogus'" in state.message
    assert state.resource_version == "9"
    assert isinstance(state.error, LedgerCorruptError)


# Hex identifiers are drawn as numbers, one draw each: as regexes they took a draw per digit,
# which was most of these tests' time. The strings are the same: ``i-`` and 8 to 17 hex digits,
# ``0x`` and 16.
_instance_ids = st.tuples(st.integers(8, 17), st.integers(0, 16**17 - 1)).map(
    lambda wn: f"i-{wn[1] % 16 ** wn[0]:0{wn[0]}x}"
)
_ids = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    _instance_ids,
)
_server_ids = st.one_of(st.just(""), st.integers(0, 16**16 - 1).map(lambda n: f"0x{n:016x}"))
_targets = st.builds(Target, _ids, st.integers(0, 65535), _server_ids)


@given(st.frozensets(_targets, max_size=30))
def test_decode_inverts_encode(ts: frozenset[Target]) -> None:
    assert decode(encode(ts)) == ts


@given(st.lists(_targets, max_size=20), st.randoms())
def test_any_order_of_lbc_output_decodes_to_the_same_set(ts: list[Target], rnd: object) -> None:
    entries = [t.identity for t in ts]
    rnd.shuffle(entries)  # type: ignore[attr-defined]
    assert decode(",".join(entries)) == frozenset(ts)
