"""The inspector's outputs: a table for people, JSON and YAML documents for programs.

The documents are a contract (README, "Inspecting a shared target group"): ``apiVersion``
``lbc.inspect/v1``; keys are only ever added, never renamed or removed, within v1; lists are
sorted (targets by id then port, bindings by cluster, namespace, name) so equal states give
equal bytes. YAML is the same document.

The table fits :data:`WIDTH` columns: cells too long for their column are cut with ``…`` (the
documents keep everything) and prose lines are wrapped. Rows whose verdict is not ``owned``
start with ``!``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson
import yaml

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.ledger import LedgerAbsent, LedgerPresent, LedgerState
from lbc.core.plan import Plan
from lbc.core.targets import Target, TargetHealth
from lbc.inspect.explain import BindingReport
from lbc.inspect.ownership import (
    VERDICTS,
    BindingFacts,
    BindingRef,
    ClusterFacts,
    Ownership,
    Row,
    Verdict,
)

API_VERSION: Final = "lbc.inspect/v1"
WIDTH: Final = 120
ELLIPSIS: Final = "…"
#: Rows whose note the table prints below it (the documents carry every note).
NOTES: Final = 20

Doc = dict[str, Any]

# -- documents ----------------------------------------------------------------------------------


def _ref(ref: BindingRef) -> Doc:
    return {"cluster": ref.cluster, "namespace": ref.namespace, "name": ref.name}


def _group(info: TargetGroupInfo | None, arn: str = "") -> Doc:
    if info is None:
        return {"arn": arn, "found": False}
    return {
        "arn": info.arn,
        "found": True,
        "name": info.name,
        "targetType": info.target_type,
        "protocol": info.protocol,
        "port": info.port,
        "vpcId": info.vpc_id,
    }


def _ledger_doc(state: LedgerState, name: str | None, *, entries: bool) -> Doc:
    doc: Doc = {"name": name}
    if isinstance(state, LedgerAbsent):
        doc.update(state="absent", size=None, error=None)
    elif isinstance(state, LedgerPresent):
        doc.update(state="present", size=len(state.targets), error=None)
    else:
        doc.update(state="unreadable", size=None, error=state.message)
    if entries:
        targets = state.targets if isinstance(state, LedgerPresent) else frozenset()
        doc["targets"] = [t.identity for t in sorted(targets)]
    return doc


def _binding_facts(facts: BindingFacts) -> Doc:
    spec = facts.binding.spec
    return {
        "namespace": facts.ref.namespace,
        "name": facts.ref.name,
        "mode": facts.mode.value,
        "targetType": spec.target_type.value if spec.target_type else None,
        "service": spec.service_name,
        "deleting": facts.binding.deleting,
        "desired": len(facts.desired.targets),
        "resolution": facts.desired.resolution.value,
        "ledger": _ledger_doc(facts.ledger, facts.ledger_name, entries=False),
    }


def _cluster(cluster: ClusterFacts) -> Doc:
    return {
        "name": cluster.name,
        "source": cluster.source,
        "reachable": cluster.reachable,
        "error": cluster.error,
        "problems": list(cluster.problems),
        "bindings": [_binding_facts(f) for f in cluster.bindings],
    }


def _health(health: TargetHealth | None) -> Doc:
    if health is None:
        return {"state": None, "reason": None, "description": None, "availabilityZone": None}
    return {
        "state": health.state.value,
        "reason": health.reason or None,
        "description": health.description or None,
        "availabilityZone": health.availability_zone,
    }


def _row(row: Row) -> Doc:
    return {
        "target": row.target.identity,
        "id": row.target.id,
        "port": row.target.port,
        "serverId": row.target.server_id or None,
        "registered": row.health is not None,
        **_health(row.health),
        "claimedBy": [_ref(r) for r in row.claimed_by],
        "desiredBy": [_ref(r) for r in row.desired_by],
        "verdict": row.verdict.value,
        "note": row.note,
    }


def target_group_document(
    info: TargetGroupInfo,
    clusters: Sequence[ClusterFacts],
    ownership: Ownership,
    *,
    allow_orphans: bool = False,
) -> Doc:
    return {
        "apiVersion": API_VERSION,
        "kind": "TargetGroupInspection",
        "targetGroup": _group(info),
        "clusters": [_cluster(c) for c in clusters],
        "targets": [_row(r) for r in ownership.rows],
        "summary": {
            "total": len(ownership.rows),
            **{v.value: ownership.counts.get(v, 0) for v in VERDICTS},
        },
        "unknownSources": list(ownership.unknown_sources),
        "healthy": ownership.healthy(allow_orphans=allow_orphans),
    }


def _targets(targets: Iterable[Target]) -> list[str]:
    return [t.identity for t in sorted(targets)]


def binding_document(report: BindingReport) -> Doc:
    inputs, decided = report.inputs, report.plan
    binding, wanted = inputs.binding, inputs.desired
    spec = binding.spec
    observed = inputs.observed
    failure = decided.failure
    return {
        "apiVersion": API_VERSION,
        "kind": "BindingInspection",
        "cluster": inputs.cluster,
        "binding": {
            "namespace": binding.namespace,
            "name": binding.name,
            "targetGroupARN": spec.target_group_arn or None,
            "targetGroupName": spec.target_group_name or None,
            "targetType": spec.target_type.value if spec.target_type else None,
            "multiClusterTargetGroup": spec.multi_cluster,
            "deleting": binding.deleting,
            "mode": report.mode.value,
        },
        "targetGroup": _group(inputs.group, inputs.arn),
        "desired": {
            "resolution": wanted.resolution.value,
            "targets": _targets(wanted.targets),
            "uncertain": _targets(wanted.uncertain),
            "diagnostics": [
                {"reason": d.reason, "message": d.message, "warning": d.warning}
                for d in wanted.diagnostics
            ],
        },
        "ledger": _ledger_doc(inputs.ledger, inputs.ledger_name, entries=True),
        "registered": None
        if observed is None
        else [{"target": t.identity, **_health(observed[t])} for t in sorted(observed)],
        "checkpoint": {
            "stored": report.checkpoint.stored,
            "current": report.checkpoint.current,
            "matches": report.checkpoint.stored == report.checkpoint.current,
            "gatesPending": report.checkpoint.gates_pending,
            "regularPassSkips": report.checkpoint.skips,
        },
        "plan": {
            "lifecycle": decided.lifecycle.value,
            "checkpointReset": decided.checkpoint_reset,
            "ledgerWriteAhead": None
            if decided.ledger_write_ahead is None
            else _targets(decided.ledger_write_ahead),
            "deregister": _targets(decided.deregistered),
            "register": _targets(decided.registered),
            "ledgerSettle": None
            if decided.ledger_settle is None
            else _targets(decided.ledger_settle),
            "deleteLedger": decided.delete_ledger,
            "podConditions": [
                {
                    "pod": f"{c.namespace}/{c.name}",
                    "type": c.condition.type,
                    "status": c.condition.status,
                    "reason": c.condition.reason,
                }
                for c in decided.pod_conditions
            ],
            "removeFinalizer": decided.remove_finalizer,
            "checkpoint": decided.checkpoint,
            "events": [
                {"type": e.type, "reason": e.reason, "message": e.message} for e in decided.events
            ],
            "failure": None
            if failure is None
            else {
                "reason": failure.reason,
                "message": failure.message,
                "transient": failure.transient,
            },
            "untouched": decided.summary.untouched,
        },
        "why": list(report.reasons),
        "converged": report.converged,
    }


def dump(doc: Mapping[str, Any], fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=WIDTH)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


# -- tables -------------------------------------------------------------------------------------


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


def wrap(text: str, indent: str = "", width: int = WIDTH) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_long_words=True,
        break_on_hyphens=False,
    ) or [indent]


def table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    shrink: Sequence[int],
    marks: Sequence[str] | None = None,
    width: int = WIDTH,
) -> list[str]:
    """Aligned columns within ``width``: the ``shrink`` columns give way, widest first."""
    mark_width = 2 if marks is not None else 0
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    floor = [max(len(head[i]), 6) for i in range(len(head))]

    def total() -> int:
        return mark_width + sum(widths) + 2 * (len(widths) - 1)

    while total() > width:
        candidates = [i for i in shrink if widths[i] > floor[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1

    template = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    prefix = "{:<%d}" % mark_width if marks is not None else ""  # noqa: UP031 - a template

    def line(cells: Sequence[str], mark: str) -> str:
        fitted = [c if len(c) <= w else clip(c, w) for c, w in zip(cells, widths, strict=True)]
        body = template.format(*fitted)
        return (prefix.format(mark) + body if prefix else body).rstrip()

    out = [line(head, "")]
    for n, row in enumerate(rows):
        out.append(line(row, marks[n] if marks is not None else ""))
    return out


def _owners(refs: Sequence[BindingRef]) -> str:
    return ",".join(map(str, refs)) or "-"


def _cluster_lines(cluster: ClusterFacts) -> list[str]:
    if cluster.error is not None:
        return wrap(
            f"cluster {cluster.name} ({cluster.source}): UNREACHABLE: {cluster.error}", "  "
        )
    lines: list[str] = []
    if not cluster.bindings:
        lines += wrap(f"cluster {cluster.name} ({cluster.source}): no binding on this group", "  ")
    else:
        lines += wrap(f"cluster {cluster.name} ({cluster.source}):", "  ")
    for facts in cluster.bindings:
        ledger = facts.ledger
        if isinstance(ledger, LedgerPresent):
            held = f"ledger {len(ledger.targets)}"
        elif isinstance(ledger, LedgerAbsent):
            held = "no ledger"
        else:
            held = f"ledger UNREADABLE: {ledger.message}"
        lines += wrap(
            f"{facts.ref.namespace}/{facts.ref.name}: {facts.mode.value}, "
            f"{len(facts.desired.targets)} desired, {held}"
            + (", deleting" if facts.binding.deleting else ""),
            "    ",
        )
    for problem in cluster.problems:
        lines += wrap(f"! {problem}", "    ")
    return lines


def summary_line(ownership: Ownership) -> str:
    counts = ", ".join(f"{ownership.counts.get(v, 0)} {v.value}" for v in VERDICTS)
    return f"{len(ownership.rows)} targets: {counts}"


def target_group_table(
    info: TargetGroupInfo, clusters: Sequence[ClusterFacts], ownership: Ownership
) -> str:
    lines = wrap(
        f"target group {info.name} ({info.target_type}, {info.protocol or '?'}:"
        f"{info.port or '?'}) {info.arn}"
    )
    for cluster in clusters:
        lines += _cluster_lines(cluster)
    lines.append("")
    rows = []
    marks = []
    for row in ownership.rows:
        health = row.health
        rows.append(
            [
                row.target.identity,
                (health.availability_zone or "-") if health else "-",
                health.state.value if health else "-",
                (health.reason or "-") if health else "-",
                _owners(row.owners),
                row.verdict.value,
            ]
        )
        marks.append("" if row.verdict is Verdict.OWNED else "!")
    lines += table(
        ["TARGET", "AZ", "STATE", "REASON", "OWNER", "VERDICT"],
        rows,
        shrink=[3, 4, 0],
        marks=marks,
    )
    lines.append("")
    noted = [r for r in ownership.rows if r.verdict is not Verdict.OWNED and r.note]
    for row in noted[:NOTES]:
        lines += wrap(f"! {row.target.identity} {row.verdict.value}: {row.note}")
    if len(noted) > NOTES:
        lines.append(f"! … and {len(noted) - NOTES} more (-o json has every row's note)")
    for source in ownership.unknown_sources:
        lines += wrap(f"! {source}")
    lines.append(summary_line(ownership))
    return "\n".join(lines) + "\n"


def _ledger_writes(decided: Plan) -> str:
    steps = []
    if decided.ledger_write_ahead is not None:
        steps.append(f"write-ahead of {len(decided.ledger_write_ahead)}")
    if decided.ledger_settle is not None:
        steps.append(f"settled to {len(decided.ledger_settle)}")
    if decided.delete_ledger:
        steps.append("deleted")
    return " then ".join(steps) or "unchanged"


def binding_table(report: BindingReport) -> str:
    inputs, decided = report.inputs, report.plan
    binding = inputs.binding
    spec = binding.spec
    group = inputs.group
    where = group.name if group is not None else "not found"
    lines = wrap(
        f"binding {binding.key} in cluster {inputs.cluster}: "
        f"{spec.target_type.value if spec.target_type else '?'} targets of Service "
        f"{spec.service_name}, {report.mode.value}, target group "
        f"{inputs.arn or spec.target_group_name} ({where})"
    )
    wanted = inputs.desired.keys
    uncertain = inputs.desired.uncertain
    ledger = inputs.ledger
    held = ledger.targets if isinstance(ledger, LedgerPresent) else frozenset()
    observed = inputs.observed or {}
    register, deregister = decided.registered, decided.deregistered
    rows = []
    marks = []
    for target in sorted(wanted | uncertain | held | set(observed) | register | deregister):
        health = observed.get(target)
        action = "register" if target in register else "deregister" if target in deregister else "-"
        rows.append(
            [
                target.identity,
                "yes" if target in wanted else "uncertain" if target in uncertain else "-",
                "yes" if target in held else "-",
                health.state.value if health else "-",
                (health.reason or "-") if health else "-",
                action,
            ]
        )
        marks.append("!" if action != "-" else "")
    lines.append("")
    lines += table(
        ["TARGET", "DESIRED", "LEDGER", "STATE", "REASON", "PLAN"], rows, shrink=[4, 0], marks=marks
    )
    lines.append("")
    lines += wrap(
        f"plan ({decided.lifecycle.value}): register {len(register)}, deregister "
        f"{len(deregister)}, ledger {_ledger_writes(decided)}"
        + f", pod conditions {len(decided.pod_conditions)}"
        + (", checkpoint reset" if decided.checkpoint_reset else "")
        + (", checkpoint written" if decided.checkpoint is not None else "")
        + (", finalizer removed" if decided.remove_finalizer else "")
    )
    if decided.failure is not None:
        lines += wrap(f"failure {decided.failure.reason}: {decided.failure.message}")
    lines.append("why:")
    for reason in report.reasons:
        lines += wrap(f"- {reason}", "  ")
    lines.append(
        "converged" if report.converged else "not converged: the plan above changes things"
    )
    return "\n".join(lines) + "\n"
