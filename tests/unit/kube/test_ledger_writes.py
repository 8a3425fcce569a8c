"""Ledger write outcomes as counted: a reconcile cancelled mid-write is not a write error."""

from __future__ import annotations

from typing import Any, cast

import anyio
from lbc.core.binding import parse_binding
from lbc.core.targets import Target
from lbc.kube.client import KubeClient
from lbc.kube.ledger import Ledgers
from lbc.observe.metrics import REGISTRY


class Hanging:
    """An API server that never answers (the reconcile is cancelled while waiting)."""

    async def create(self, *_args: Any, **_kw: Any) -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def _errors() -> float:
    value = REGISTRY.get_sample_value(
        "lbc_ledger_writes_total", {"operation": "create", "outcome": "error"}
    )
    return value or 0.0


async def test_a_cancelled_ledger_write_is_not_counted_as_an_error() -> None:
    binding = parse_binding(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
            "spec": {
                "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/web/0123456789abcdef",
                "targetType": "ip",
                "serviceRef": {"name": "web", "port": 80},
            },
        }
    )
    ledgers = Ledgers(cast(KubeClient, Hanging()))
    before = _errors()
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def write() -> None:
                await ledgers.write(
                    binding,
                    frozenset({Target("10.0.0.1", 80)}),
                    resource_version=None,
                    current_value=None,
                )

            tg.start_soon(write)
            await anyio.lowlevel.checkpoint()
            scope.cancel()
    assert _errors() == before
