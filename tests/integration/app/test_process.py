"""``python -m lbc run`` as a real process against the lab API server: leader election, SIGTERM.

Two replicas campaign for one Lease. SIGTERM on the leader must end it with exit 0 and an
empty Lease holder, and the standby must take over within about one retry period (not a full
lease duration). Lease timings are shortened so the test takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
import pytest
import yaml
from lbc.app import EXIT_LEADERSHIP_LOST, EXIT_OK

from lbc_lab.apiserver.server import LabApiServer
from tests.daemon import lbc_run

LEASE = "lbc-leader"
CRD_PATH = Path(__file__).resolve().parents[3] / "manifests" / "crds" / "targetgroupbindings.yaml"
RETRY = 0.5
TIMINGS = {"LBC_LEASE_DURATION": "4", "LBC_RENEW_DEADLINE": "3", "LBC_RETRY_PERIOD": str(RETRY)}

pytestmark = pytest.mark.timeout(60)


@dataclass
class Replica:
    name: str
    process: anyio.abc.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    started: anyio.Event = field(default_factory=anyio.Event)

    def events(self) -> list[str]:
        return [str(line.get("event")) for line in self.lines]


async def _read_lines(replica: Replica) -> None:
    assert replica.process.stdout is not None
    buffer = b""
    async for chunk in replica.process.stdout:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                line = {"event": "unparsed", "text": raw.decode(errors="replace")}
            replica.lines.append(line)
            if line.get("event") == "daemon_started":
                replica.started.set()


@asynccontextmanager
async def replica(
    tg: anyio.abc.TaskGroup, server: LabApiServer, name: str
) -> AsyncIterator[Replica]:
    env = {
        **os.environ,
        "LBC_KUBECONFIG": str(server.kubeconfig_path),
        "LBC_PROBE_ADDR": "127.0.0.1:0",
        "LBC_METRICS_ADDR": "127.0.0.1:0",
        "LBC_LEASE_NAMESPACE": "default",
        "LBC_LOG_FORMAT": "json",
        "LBC_SHUTDOWN_GRACE_PERIOD": "5",
        "POD_NAME": name,
        # The binding controller opens AWS clients; with no bindings it never calls them.
        "LBC_AWS_REGION": "us-east-1",
        "LBC_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "lab",
        "AWS_SECRET_ACCESS_KEY": "lab",
        **TIMINGS,
    }
    env.pop("KUBECONFIG", None)
    async with lbc_run(env, subprocess.PIPE) as process:
        rep = Replica(name, process)
        tg.start_soon(_read_lines, rep)
        yield rep


@asynccontextmanager
async def lab_cluster() -> AsyncIterator[LabApiServer]:
    """The lab API server with the TargetGroupBinding CRD, so every informer can sync."""
    async with LabApiServer.running() as server:
        server.create(yaml.safe_load(CRD_PATH.read_text()))
        yield server


def lease_spec(server: LabApiServer) -> dict[str, Any] | None:
    lease = server.get("coordination.k8s.io/v1", "Lease", LEASE, "default")
    return None if lease is None else dict(lease.get("spec") or {})


def holder(server: LabApiServer) -> str | None:
    spec = lease_spec(server)
    return None if spec is None else str(spec.get("holderIdentity") or "")


async def wait_for_holder(server: LabApiServer, wanted: set[str], deadline: float) -> str:
    """Wait for the Lease to name one of ``wanted``, woken by the store's writes."""
    current = await server.wait_for(
        lambda: holder(server) in wanted, timeout=deadline, what=f"a holder in {sorted(wanted)}"
    )
    assert current
    return str(holder(server))


def stamp(spec: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(str(spec[key]))


async def test_sigterm_releases_the_lease_and_the_standby_takes_over_quickly() -> None:
    async with lab_cluster() as server, anyio.create_task_group() as tg:
        async with replica(tg, server, "replica-a") as a:
            first = await wait_for_holder(server, {"replica-a"}, deadline=20)
            assert first == "replica-a"
            async with replica(tg, server, "replica-b") as b:
                with anyio.fail_after(20):
                    await b.started.wait()
                assert holder(server) == "replica-a", "the standby stole a held Lease"

                a.process.send_signal(signal.SIGTERM)
                with anyio.fail_after(10):
                    code = await a.process.wait()
                assert code == EXIT_OK, a.lines[-5:]
                events = a.events()
                assert events.index("shutdown_started") < events.index("lease_released")
                # Released, so the standby needs one retry period (plus jitter), not a full
                # lease duration.
                with anyio.fail_after(3 * RETRY + 1.0):
                    await wait_for_holder(server, {"replica-b"}, deadline=60)

                b.process.send_signal(signal.SIGTERM)
                with anyio.fail_after(10):
                    assert await b.process.wait() == EXIT_OK
                assert holder(server) == "", "the last replica did not release the Lease"
        tg.cancel_scope.cancel()


async def test_a_killed_leader_is_replaced_within_the_lease_duration() -> None:
    lease_duration = float(TIMINGS["LBC_LEASE_DURATION"])
    async with lab_cluster() as server, anyio.create_task_group() as tg:
        async with replica(tg, server, "replica-a") as a, replica(tg, server, "replica-b") as b:
            first = await wait_for_holder(server, {"replica-a", "replica-b"}, deadline=20)
            leader, standby = (a, b) if first == "replica-a" else (b, a)
            with anyio.fail_after(20):
                await standby.started.wait()
            leader.process.kill()  # no release: the standby must wait the Lease out
            await leader.process.wait()
            last = lease_spec(server)
            assert last is not None
            await wait_for_holder(server, {standby.name}, deadline=lease_duration + 3 * RETRY + 1)
            taken = lease_spec(server)
            assert taken is not None
            assert taken["leaseTransitions"] == last["leaseTransitions"] + 1
            # Safety, from the Lease's own record: the standby judges expiry a full lease duration
            # after it saw the leader's last renewal, so its acquisition is stamped no earlier
            # than that minus one call (it stamps a try before reading the Lease; a call is cut
            # at max(retry period, renew deadline / 2)).
            call = max(RETRY, float(TIMINGS["LBC_RENEW_DEADLINE"]) / 2)
            waited = stamp(taken, "acquireTime") - stamp(last, "renewTime")
            assert waited.total_seconds() >= lease_duration - call, waited
            standby.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                assert await standby.process.wait() == EXIT_OK
        tg.cancel_scope.cancel()


async def test_a_leader_that_cannot_renew_exits_non_zero() -> None:
    renew_deadline = float(TIMINGS["LBC_RENEW_DEADLINE"])
    async with lab_cluster() as server, anyio.create_task_group() as tg:
        async with replica(tg, server, "replica-d") as d:
            await wait_for_holder(server, {"replica-d"}, deadline=20)
            server.faults.fail("*", "leases", code=500, count=1_000_000)
            with anyio.fail_after(renew_deadline + 10):
                code = await d.process.wait()
            assert code == EXIT_LEADERSHIP_LOST, d.lines[-5:]
            assert "leader_election_lost" in d.events()
            assert "daemon_stopped" not in d.events()
        tg.cancel_scope.cancel()
