"""Checkpoint hashes (SPEC §5): skip a reconcile whose inputs have not changed since success.

The annotation ``elbv2.k8s.aws/checkpoint`` holds ``<endpoints hash>/<spec hash>``, each the
SHA-256 of a string encoded as base64url without padding (43 characters), exactly as LBC
writes it. ``""`` (or no annotation) means "reconcile fully".

Endpoints hash (byte-compatible with LBC): the strings ``<identity>:<creationMillis>`` of every
desired endpoint (pod creation time for ip targets, node creation time for instance targets),
sorted, joined with ``,``. The identity carries the QUIC server id in QUIC and TCP_QUIC groups
(``<ip>:<port>:<serverId>``), and an endpoint listed by two EndpointSlices is hashed twice, as
LBC does. The empty set hashes to ``47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU``.

Spec hash: LBC hashes ``json.Marshal(tgb.Spec)`` from Go. :func:`go_spec_json` reproduces those
bytes from the raw spec as the API server returns it:

- field order of the Go struct: targetGroupARN, targetGroupName, multiClusterTargetGroup,
  targetType, targetGroupProtocol, serviceRef{name, port}, networking{ingress[{from[{ipBlock
  {cidr}, securityGroup{groupID}}], ports[{protocol, port}]}]}, nodeSelector{matchLabels,
  matchExpressions[{key, operator, values}]}, ipAddressType, vpcID, iamRoleArnToAssume,
  assumeRoleExternalId;
- ``omitempty``: plain strings and the bool are dropped when empty/false; pointer fields
  (targetType, targetGroupProtocol, ipAddressType, networking, nodeSelector, a networking
  port's protocol and port, a peer's ipBlock/securityGroup) are dropped only when absent, so a
  present ``""`` or ``{}`` is written; ``serviceRef``, ``key``, ``operator``, ``cidr``,
  ``groupID`` are always written; ``ingress``, ``matchLabels``, ``matchExpressions`` and
  ``values`` are dropped when absent or empty, while a rule's ``from`` and ``ports`` (no
  omitempty) are written as ``null`` when absent and ``[]`` when empty;
- int-or-string ports as a JSON number or string as given; a missing serviceRef field as Go's
  zero value (``""`` / ``0``);
- Go's string escaping: ``"`` ``\\`` and control characters escaped (``\\n \\r \\t \\b \\f``,
  others as ``\\u00xx``), ``<`` ``>`` ``&`` U+2028 U+2029 as ``\\u003c``-style escapes
  (json.Marshal escapes HTML by default), other non-ASCII as raw UTF-8; map keys sorted.
  ``\\b``/``\\f`` follow Go ≥ 1.22; earlier Go wrote ``\\u0008``/``\\u000c``, which only matters
  for a spec holding those characters.

What follows if the bytes still differ for some spec (a future LBC field, say): the checkpoint
does not match, so the first reconcile after migration runs fully and writes lbc's own
checkpoint. That costs one DescribeTargetHealth, never correctness: a checkpoint only ever
allows skipping, and a mismatch never does.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

CHECKPOINT_ANNOTATION = "elbv2.k8s.aws/checkpoint"
CHECKPOINT_TIMESTAMP_ANNOTATION = "elbv2.k8s.aws/checkpoint-timestamp"

EMPTY_HASH = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def sha256_b64url(data: bytes | str) -> str:
    """base64url(sha256(data)) without padding, LBC's ``ComputeSha256`` format."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode()


def endpoints_hash(endpoints: Iterable[tuple[str, int]]) -> str:
    """Hash of ``(identity, creation_ms)`` pairs, order-insensitive, duplicates kept.

    ``identity`` is the target's identity string (``<id>:<port>``, or ``<id>:<port>:<server
    id>`` for a QUIC target), so each hashed string is ``<identity>:<creation_ms>``, LBC's.
    """
    return sha256_b64url(",".join(sorted(f"{i}:{ms}" for i, ms in endpoints)))


def checkpoint_value(endpoints: str, spec: str) -> str:
    return f"{endpoints}/{spec}"


def may_skip(stored: str | None, current: str, *, gates_pending: bool) -> bool:
    """Whether a reconcile may skip AWS: the stored checkpoint equals the current inputs' one
    and no readiness gate is waiting (a pending gate needs DescribeTargetHealth to progress)."""
    return bool(stored) and stored == current and not gates_pending


# --- Go encoding/json reproduction -------------------------------------------------------------

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
_TRANSLATE = str.maketrans(_ESCAPES)


def go_string(value: str) -> str:
    """A JSON string literal as Go's json.Marshal writes it (HTML escaping on)."""
    return '"' + value.translate(_TRANSLATE) + '"'


def _int_or_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_string(str(value))


def _object(members: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{go_string(k)}:{v}" for k, v in members) + "}"


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _peer(peer: Mapping[str, Any]) -> str:
    members: list[tuple[str, str]] = []
    if isinstance(peer.get("ipBlock"), Mapping):
        members.append(("ipBlock", _object([("cidr", go_string(peer["ipBlock"].get("cidr", "")))])))
    if isinstance(peer.get("securityGroup"), Mapping):
        gid = go_string(peer["securityGroup"].get("groupID", ""))
        members.append(("securityGroup", _object([("groupID", gid)])))
    return _object(members)


def _port(port: Mapping[str, Any]) -> str:
    members: list[tuple[str, str]] = []
    if port.get("protocol") is not None:
        members.append(("protocol", go_string(str(port["protocol"]))))
    if port.get("port") is not None:
        members.append(("port", _int_or_string(port["port"])))
    return _object(members)


def _slice(value: Any, item: Any) -> str:
    """A Go slice without omitempty: absent is ``null``, present is a (possibly empty) array."""
    if value is None:
        return "null"
    return "[" + ",".join(item(_as_map(v)) for v in _as_list(value)) + "]"


def _networking(net: Mapping[str, Any]) -> str:
    rules = _as_list(net.get("ingress"))
    if not rules:
        return "{}"
    encoded = [
        _object([("from", _slice(r.get("from"), _peer)), ("ports", _slice(r.get("ports"), _port))])
        for r in map(_as_map, rules)
    ]
    return _object([("ingress", "[" + ",".join(encoded) + "]")])


def _selector(sel: Mapping[str, Any]) -> str:
    members: list[tuple[str, str]] = []
    labels = _as_map(sel.get("matchLabels"))
    if labels:
        members.append(
            ("matchLabels", _object((k, go_string(str(labels[k]))) for k in sorted(labels)))
        )
    exprs = _as_list(sel.get("matchExpressions"))
    if exprs:
        items = []
        for e in map(_as_map, exprs):
            fields = [
                ("key", go_string(e.get("key", ""))),
                ("operator", go_string(e.get("operator", ""))),
            ]
            values = _as_list(e.get("values"))
            if values:
                fields.append(("values", "[" + ",".join(go_string(str(v)) for v in values) + "]"))
            items.append(_object(fields))
        members.append(("matchExpressions", "[" + ",".join(items) + "]"))
    return _object(members)


def go_spec_json(spec: Mapping[str, Any]) -> str:
    """The bytes (as text) Go's ``json.Marshal`` makes of LBC's ``TargetGroupBindingSpec``."""
    members: list[tuple[str, str]] = []

    def plain(key: str) -> None:
        if spec.get(key):
            members.append((key, go_string(str(spec[key]))))

    def pointer(key: str) -> None:
        if spec.get(key) is not None:
            members.append((key, go_string(str(spec[key]))))

    plain("targetGroupARN")
    plain("targetGroupName")
    if spec.get("multiClusterTargetGroup") is True:
        members.append(("multiClusterTargetGroup", "true"))
    pointer("targetType")
    pointer("targetGroupProtocol")
    ref = _as_map(spec.get("serviceRef"))
    port = ref.get("port")
    members.append(
        (
            "serviceRef",
            _object(
                [
                    ("name", go_string(str(ref.get("name") or ""))),
                    ("port", "0" if port is None else _int_or_string(port)),
                ]
            ),
        )
    )
    if isinstance(spec.get("networking"), Mapping):
        members.append(("networking", _networking(spec["networking"])))
    if isinstance(spec.get("nodeSelector"), Mapping):
        members.append(("nodeSelector", _selector(spec["nodeSelector"])))
    pointer("ipAddressType")
    plain("vpcID")
    plain("iamRoleArnToAssume")
    plain("assumeRoleExternalId")
    return _object(members)


def spec_hash(spec: Mapping[str, Any]) -> str:
    return sha256_b64url(go_spec_json(spec))
