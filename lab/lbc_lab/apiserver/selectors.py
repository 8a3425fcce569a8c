"""Label and field selectors, parsed once per request and matched per object.

Watchers evaluate their selector against both the old and the new state of every event of
their resource, so an object leaving a selector can be reported as DELETED the way the real
watch cache does; matching must therefore be cheap: requirements are parsed into tuples up
front and evaluated without allocation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lbc_lab.apiserver.status import ApiError

_PUNCTUATION = frozenset({"!=", "==", "=", "(", ")", ",", "!", ">", "<", "in", "notin"})
_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|\bnotin\b|\bin\b|>|<|[^\s!=,()<>]+)\s*")


@dataclass(frozen=True, slots=True)
class Requirement:
    """``key op values``: op is one of =, !=, in, notin, exists, !exists, gt, lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.op == "gt" else have < want


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        if not self.requirements:
            return True
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query syntax; 400 BadRequest on a malformed selector."""
    if not text or not text.strip():
        return LabelSelector()
    tokens: list[str] = [t for t in _TOKEN.findall(text) if t]
    pos = 0
    out: list[Requirement] = []

    def fail(why: str) -> ApiError:
        return ApiError(400, f"unable to parse requirement: {why}")

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise fail("unexpected end of selector")
        pos += 1
        return tokens[pos - 1]

    while pos < len(tokens):
        first = take()
        if first == "!":
            key = take()
            if key in _PUNCTUATION:
                raise fail(f"found '{key}', expected: identifier")
            out.append(Requirement(key, "!exists"))
        elif first in _PUNCTUATION:
            raise fail(f"found '{first}', expected: !, identifier, or 'end of string'")
        else:
            key = first
            if pos >= len(tokens) or tokens[pos] == ",":
                out.append(Requirement(key, "exists"))
            else:
                op = take()
                if op in ("=", "==", "!="):
                    value = ""
                    if pos < len(tokens) and tokens[pos] != ",":
                        value = take()
                    out.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
                elif op in ("in", "notin"):
                    if take() != "(":
                        raise fail(f"expected '(' after {op}")
                    values: list[str] = []
                    while True:
                        tok = take()
                        if tok == ")":
                            break
                        if tok != ",":
                            values.append(tok)
                    out.append(Requirement(key, op, tuple(values)))
                elif op in (">", "<"):
                    out.append(Requirement(key, "gt" if op == ">" else "lt", (take(),)))
                else:
                    raise fail(f"found '{op}', expected: '=', '!=', '==', 'in', notin'")
        if pos < len(tokens):
            if tokens[pos] != ",":
                raise fail(f"found '{tokens[pos]}', expected: ',' or 'end of string'")
            pos += 1
    return LabelSelector(tuple(out))


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    path: tuple[str, ...]
    negate: bool
    value: str


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        for req in self.requirements:
            have = _field_value(obj, req.path)
            if (have == req.value) == req.negate:
                return False
        return True

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact_name(self) -> str | None:
        """The name a ``metadata.name=x`` selector pins, for an O(1) lookup."""
        for req in self.requirements:
            if req.path == ("metadata", "name") and not req.negate:
                return req.value
        return None


def _field_value(obj: dict[str, Any], path: tuple[str, ...]) -> str:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None, supported: frozenset[str]) -> FieldSelector:
    """Parse ``fieldSelector``; fields outside ``supported`` are refused as the real server does."""
    if not text or not text.strip():
        return FieldSelector()
    out: list[FieldRequirement] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                field, value = term.split(op, 1)
                break
        else:
            raise ApiError(400, f"invalid selector: '{text}'; can't understand '{term}'")
        field = field.strip()
        if field not in supported:
            raise ApiError(400, f"field label not supported: {field}")
        out.append(FieldRequirement(tuple(field.split(".")), op == "!=", value.strip()))
    return FieldSelector(tuple(out))
