"""Decoding the protobuf request bodies kubectl's typed clients send for a few built-in kinds.

kubectl's imperative generators (``kubectl create namespace|configmap|secret|serviceaccount``)
POST ``application/vnd.kubernetes.protobuf`` bodies. The lab decodes those kinds' fields into
the JSON shape and answers in JSON (the clients accept it). Envelope: the magic ``k8s\\0``, then
a ``runtime.Unknown`` message (1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object bytes).
Other kinds, and fields not listed here, are refused with 415 rather than silently dropped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from lbc_lab.apiserver.status import ApiError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

Field = tuple[int, int, Any]  # (field number, wire type, value: int or bytes)


def _unsupported(why: str) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml ({why})",
    )


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise _unsupported("truncated protobuf")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> Iterator[Field]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            yield number, wire, data[pos : pos + size]
            pos += size
        elif wire == 1:
            yield number, wire, data[pos : pos + 8]
            pos += 8
        elif wire == 5:
            yield number, wire, data[pos : pos + 4]
            pos += 4
        else:
            raise _unsupported(f"protobuf wire type {wire}")


def _empty(value: Any) -> bool:
    """Go's protobuf encoding writes unset fields too: zero numbers and empty messages."""
    return value in (0, b"")


def _text(value: Any) -> str:
    return bytes(value).decode()


def _map_entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, item in _fields(data):
        if number == 1:
            key = _text(item)
        elif number == 2:
            value = bytes(item)
    return key, value


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    scalar = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion", 5: "uid"}
    for number, _, value in _fields(data):
        if number in scalar:
            meta[scalar[number]] = _text(value)
        elif number in (11, 12):
            key, item = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
        elif number in (4, 7, 8, 9, 10, 15, 17) or _empty(value):
            continue  # server-owned (selfLink, generation, timestamps, managedFields) or unset
        else:
            raise _unsupported(f"ObjectMeta field {number} is not understood by the lab")
    return meta


def _namespace(raw: bytes, obj: dict[str, Any]) -> None:
    for number, _, value in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(value)
            continue
        if number == 2:
            for inner, _, item in _fields(value):
                if inner == 1:
                    obj.setdefault("spec", {}).setdefault("finalizers", []).append(_text(item))
        elif number != 3 and not _empty(value):
            raise _unsupported(f"Namespace field {number} is not understood by the lab")


def _config_map(raw: bytes, obj: dict[str, Any]) -> None:
    for number, _, value in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(value)
            continue
        if number == 2:
            key, item = _map_entry(value)
            obj.setdefault("data", {})[key] = item.decode()
        elif number == 3:
            key, item = _map_entry(value)
            obj.setdefault("binaryData", {})[key] = base64.b64encode(item).decode()
        elif number == 4:
            obj["immutable"] = bool(value)
        elif not _empty(value):
            raise _unsupported(f"ConfigMap field {number} is not understood by the lab")


def _secret(raw: bytes, obj: dict[str, Any]) -> None:
    for number, _, value in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(value)
            continue
        if number == 2:
            key, item = _map_entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, item = _map_entry(value)
            obj.setdefault("stringData", {})[key] = item.decode()
        elif number == 5:
            obj["immutable"] = bool(value)
        elif not _empty(value):
            raise _unsupported(f"Secret field {number} is not understood by the lab")


def _service_account(raw: bytes, obj: dict[str, Any]) -> None:
    for number, _, value in _fields(raw):
        if number == 1:
            obj["metadata"] = _object_meta(value)
            continue
        if number == 4:
            obj["automountServiceAccountToken"] = bool(value)
        elif not _empty(value):
            raise _unsupported(f"ServiceAccount field {number} is not understood by the lab")


_KINDS = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _config_map,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _service_account,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON shape of a protobuf-encoded object of one of the supported kinds."""
    if not body.startswith(_MAGIC):
        raise _unsupported("protobuf body without the k8s envelope")
    api_version = kind = ""
    raw = b""
    for number, _, value in _fields(body[len(_MAGIC) :]):
        if number == 1:
            for inner, _, item in _fields(value):
                if inner == 1:
                    api_version = _text(item)
                elif inner == 2:
                    kind = _text(item)
        elif number == 2:
            raw = bytes(value)
    fill = _KINDS.get((api_version, kind))
    if fill is None:
        raise _unsupported(f"protobuf bodies of {api_version} {kind} are not decoded by the lab")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    fill(raw, obj)
    return obj
