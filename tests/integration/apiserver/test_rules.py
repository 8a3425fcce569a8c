"""The lab's pure rules, checked directly: patches, selectors, schemas, tables, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lbc_lab.apiserver import patch, schema, tables
from lbc_lab.apiserver.names import check_name
from lbc_lab.apiserver.selectors import parse_field_selector, parse_label_selector
from lbc_lab.apiserver.status import ApiError, CauseList

# RFC 7386 appendix A: (target, patch, result).
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "merge", "result"), RFC7386)
def test_merge_patch_follows_rfc_7386(target: Any, merge: Any, result: Any) -> None:
    assert patch.merge_patch(target, merge) == result


def test_json_patch_move_copy_remove_and_array_indices() -> None:
    doc = {"a": [1, 2, 3], "b": {"c": "d"}}
    out = patch.json_patch(
        doc,
        [
            {"op": "move", "from": "/b/c", "path": "/e"},
            {"op": "copy", "from": "/a/0", "path": "/a/-"},
            {"op": "remove", "path": "/a/1"},
            {"op": "add", "path": "/a/0", "value": 0},
        ],
    )
    assert out == {"a": [0, 1, 3, 1], "b": {}, "e": "d"}
    assert doc == {"a": [1, 2, 3], "b": {"c": "d"}}, "the input was modified"
    with pytest.raises(ApiError) as info:
        patch.json_patch(doc, [{"op": "remove", "path": "/missing"}])
    assert info.value.code == 422


def test_strategic_merge_directives() -> None:
    live = {
        "metadata": {"finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "1"}]},
    }
    out = patch.strategic_merge(
        live,
        {
            "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "$setElementOrder/containers": [{"name": "y"}, {"name": "x"}],
                "containers": [{"name": "y", "$patch": "delete"}],
            },
        },
    )
    assert out == {
        "metadata": {"finalizers": ["b", "c"]},
        "spec": {"containers": [{"name": "x", "image": "1"}]},
    }
    replaced = patch.strategic_merge(live, {"spec": {"$patch": "replace", "other": 1}})
    assert replaced["spec"] == {"other": 1}


@pytest.mark.parametrize("bad", ["app in web", "app in (a", "=x", "a b", "app notin", "a,,=b"])
def test_malformed_label_selectors_are_refused(bad: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_label_selector(bad)
    assert info.value.code == 400


def test_label_selector_matches_numbers_and_empty_values() -> None:
    sel = parse_label_selector("rank>2,tier=")
    assert sel.matches({"metadata": {"labels": {"rank": "3", "tier": ""}}})
    assert not sel.matches({"metadata": {"labels": {"rank": "2", "tier": ""}}})
    assert not sel.matches({"metadata": {"labels": {"rank": "x", "tier": ""}}})


def test_field_selector_compares_strings_of_booleans_and_numbers() -> None:
    fields = frozenset({"spec.unschedulable", "metadata.name"})
    sel = parse_field_selector("spec.unschedulable=true,metadata.name!=n2", fields)
    assert sel.matches({"metadata": {"name": "n1"}, "spec": {"unschedulable": True}})
    assert not sel.matches({"metadata": {"name": "n2"}, "spec": {"unschedulable": True}})
    assert not sel.matches({"metadata": {"name": "n1"}, "spec": {}})


def test_schema_reports_every_violation_with_its_path() -> None:
    spec = {
        "type": "object",
        "required": ["a", "b"],
        "properties": {
            "a": {"type": "array", "maxItems": 1, "items": {"type": "string", "maxLength": 2}},
            "b": {"type": "object", "additionalProperties": {"type": "integer"}},
            "c": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        },
    }
    root = {"type": "object", "properties": {"spec": spec}}
    causes = CauseList()
    schema.validate(root, {"spec": {"a": ["abc", "d"], "c": 0}}, "", causes)
    assert [(c.field, c.reason) for c in causes.items] == [
        ("spec.b", "FieldValueRequired"),
        ("spec.a", "FieldValueTooMany"),
        ("spec.a[0]", "FieldValueTooLong"),
        ("spec.c", "FieldValueInvalid"),
    ]
    with pytest.raises(ApiError) as info:
        causes.raise_if_any("Thing", "example.com", "t")
    assert str(info.value).startswith('Thing.example.com "t" is invalid: [spec.b: Required value, ')


def test_schema_any_of_needs_one_branch() -> None:
    spec = {
        "type": "object",
        "anyOf": [{"required": ["arn"]}, {"required": ["name"]}],
        "properties": {"arn": {"type": "string"}, "name": {"type": "string"}},
    }
    good = CauseList()
    schema.validate(spec, {"name": "x"}, "spec", good)
    assert good.items == []
    bad = CauseList()
    schema.validate(spec, {}, "spec", bad)
    assert bad.items[0].message.endswith("must validate at least one schema (anyOf)")


def test_pruning_keeps_declared_and_preserved_fields() -> None:
    root = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "known": {"type": "string"},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    dropped: list[str] = []
    obj = {
        "apiVersion": "v",
        "kind": "K",
        "metadata": {"name": "n"},
        "spec": {"known": "a", "free": {"any": {"thing": 1}}, "junk": 1},
        "top": 2,
    }
    out = schema.prune(root, obj, "", dropped)
    assert out == {
        "apiVersion": "v",
        "kind": "K",
        "metadata": {"name": "n"},
        "spec": {"known": "a", "free": {"any": {"thing": 1}}},
    }
    assert dropped == ["spec.junk", "top"]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"),
     (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d")],
)  # fmt: skip
def test_age_column_renders_like_kubectl(seconds: int, shown: str) -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    assert tables.human_age(now - timedelta(seconds=seconds), now) == shown


def test_jsonpath_filters_and_indexes() -> None:
    obj = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "Synced", "status": "True"},
            ]
        },
        "spec": {"ports": [{"port": 80}, {"port": 443}]},
    }
    assert tables.jsonpath(obj, '.status.conditions[?(@.type=="Synced")].status') == ["True"]
    assert tables.jsonpath(obj, ".spec.ports[1].port") == [443]
    assert tables.jsonpath(obj, "{.spec.ports[*].port}") == [80, 443]
    assert tables.jsonpath(obj, ".spec.missing") == []


@pytest.mark.parametrize(
    ("rule", "name", "ok"),
    [
        ("subdomain", "a.b-c", True),
        ("subdomain", "MyTargetGroupBinding", False),
        ("subdomain", "-a", False),
        ("subdomain", "a" * 254, False),
        ("label", "a.b", False),
        ("dns1035", "1abc", False),
        ("dns1035", "abc-1", True),
        ("path", "system:controller:x", True),
        ("path", "a/b", False),
    ],
)
def test_object_name_rules(rule: str, name: str, ok: bool) -> None:
    causes = CauseList()
    check_name(rule, name, causes)
    assert (not causes.items) == ok
