"""The pod watch decoder (msgspec structs) against the general path (orjson, then pod_view)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings, strategies as st
from lbc.core.objects import GATE_PREFIX, QUIC_ENABLED_ANNOTATION
from lbc.kube.client import DecodedEvent, WatchEvent, _watch_event
from lbc.kube.informer import meta_key
from lbc.kube.podwatch import pod_watch_event
from lbc.kube.views import POD_ENI_ANNOTATION, pod_view
from tests.unit.kube.test_views import raw_pod

GATE = GATE_PREFIX + "web"

# Values Kubernetes should never send but a projection must survive as it does today.
odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(0, 3), max_size=2),
)


# Hypothesis draws small integers far more often than uniformly: a list is steadier.
_ONE_IN_FORTY = st.sampled_from([False] * 39 + [True])


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # Odd one time in forty: a pod has dozens of fields, and most examples must be pods the
    # struct path takes (about two thirds of the events when this was written).
    return _ONE_IN_FORTY.flatmap(lambda odd_one: odd if odd_one else good)


def obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with these fields, now and then up to two of them left out."""
    left_out = st.lists(st.sampled_from(sorted(fields)), max_size=2)
    return st.tuples(
        st.fixed_dictionaries(fields),
        st.sampled_from([False] * 3 + [True]).flatmap(
            lambda some: left_out if some else st.just([])
        ),
    ).map(lambda drawn: {k: v for k, v in drawn[0].items() if k not in drawn[1]})


names = st.text(alphabet="abc-0é", min_size=0, max_size=6)
eni = st.sampled_from(['[{"eniId":"eni-1"},{"eniId":"eni-2"}]', "[]", "{", '[{"x":1}]'])
quic = obj(**{QUIC_ENABLED_ANNOTATION: field(st.just("web:8080"))})  # the general path's
annotations = st.sampled_from([False] * 9 + [True]).flatmap(
    lambda with_quic: quic if with_quic else obj(**{POD_ENI_ANNOTATION: field(eni), "o": names})
)
meta = obj(
    name=field(names),
    namespace=field(names),
    uid=field(names),
    resourceVersion=field(st.sampled_from(["", "1", "42"])),
    creationTimestamp=field(st.sampled_from(["2026-11-24T10:00:00Z", "", "garbage"])),
    deletionTimestamp=field(st.just("2026-11-24T11:00:00Z")),
    annotations=field(annotations),
    labels=field(st.dictionaries(names, names, max_size=2)),
)
port = obj(
    name=field(st.sampled_from(["http", "", "grpc"])),
    containerPort=field(st.integers(1, 65535)),
    protocol=field(st.sampled_from(["TCP", "UDP", ""])),
    hostPort=st.integers(1, 9),
)
container = obj(
    name=names, ports=field(st.lists(field(port), max_size=3)), env=st.just([{"name": "A"}])
)
spec = obj(
    nodeName=field(names),
    readinessGates=field(
        st.lists(field(obj(conditionType=field(st.sampled_from([GATE, "", "x"])))), max_size=2)
    ),
    containers=field(st.lists(field(container), max_size=2)),
    volumes=st.just([{"name": "v", "emptyDir": {}}]),
)
condition = obj(
    type=field(st.sampled_from(["ContainersReady", GATE, GATE_PREFIX + "api", "Ready"])),
    status=field(st.sampled_from(["True", "False", "Unknown"])),
    reason=field(st.sampled_from(["", "Elb.RegistrationInProgress"])),
    message=field(st.sampled_from(["", "Target registration is in progress"])),
    lastTransitionTime=st.just("2026-11-24T10:00:00Z"),
)
ip = st.sampled_from(["10.0.0.1", "fd00::1", ""])
status = obj(
    podIP=field(ip),
    podIPs=field(st.lists(field(obj(ip=field(ip))), max_size=3)),
    conditions=field(st.lists(field(condition), max_size=4)),
    phase=st.just("Running"),
)
pod = obj(metadata=field(meta), spec=field(spec), status=field(status), kind=st.just("Pod"))
kinds = st.sampled_from(["ADDED", "MODIFIED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "X"])
event = st.fixed_dictionaries({"type": field(kinds), "object": field(pod)})


def general(line: bytes) -> tuple[Any, ...]:
    """What the informer made of a line before: the event's kind, key, view and version."""
    try:
        kind, raw = _watch_event(line, "watch pods")
        rv = (raw.get("metadata") or {}).get("resourceVersion")
        version = (rv if type(rv) is str else str(rv)) if rv else ""
        if kind not in {"ADDED", "MODIFIED", "DELETED"}:
            return (kind, "", None, version)
        return (kind, meta_key(raw), pod_view(raw), version)
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def decoded(line: bytes) -> tuple[Any, ...]:
    try:
        event = pod_watch_event(line, "watch pods")
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    if isinstance(event, WatchEvent):
        return general(line)  # the informer's _apply then takes the line as before
    assert type(event) is DecodedEvent
    return tuple(event)


@settings(max_examples=2000, deadline=None)
@given(event)
def test_decoded_pod_events_equal_the_general_path(body: dict[str, Any]) -> None:
    line = orjson.dumps(body)
    assert decoded(line) == general(line)


@given(st.binary(max_size=40) | st.sampled_from([b"[]", b"{}", b'{"type":"ADDED"}', b"nul"]))
def test_lines_that_are_not_events_fail_as_before(line: bytes) -> None:
    assert decoded(line) == general(line)


def test_error_events_raise_the_api_error() -> None:
    line = orjson.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410}})
    outcome = decoded(line)
    assert outcome[0] == "raised"
    assert outcome == general(line)


def test_well_formed_pods_take_the_struct_path_with_the_same_view() -> None:
    for i, raw in enumerate((raw_pod(1), raw_pod(2, gate=GATE_PREFIX + "api"))):
        raw["metadata"]["annotations"][POD_ENI_ANNOTATION] = '[{"eniId":"eni-0abc"}]'
        raw["metadata"]["deletionTimestamp"] = "2026-11-24T11:00:00Z" if i else None
        raw["status"]["podIPs"].append({"ip": "fd00::1"})
        line = orjson.dumps({"type": "MODIFIED", "object": raw})
        event = pod_watch_event(line, "watch pods")
        assert type(event) is DecodedEvent
        assert tuple(event) == general(line)
        assert event.view is not None
        assert event.view.named_ports == (("http", 8080, "TCP"),)
    bookmark = orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
    assert tuple(pod_watch_event(bookmark, "watch pods")) == ("BOOKMARK", "", None, "9")
