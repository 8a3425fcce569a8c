"""End-to-end fixtures: lbc daemon processes against lab clusters and the lab ELBv2.

Each test gets a fresh :class:`~lbc_lab.scenario.World` (its own ELBv2/EC2 process and API
server processes), so tests share no state. Helpers here build the echoserver workloads and
bindings the seed document uses, and :class:`Guard` watches a set of targets for the whole of
a test: any moment one of them is absent or draining is recorded as a violation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from lbc_lab.elb_scenario import BoundTargetGroup
from lbc_lab.processes import LabProcess
from lbc_lab.scenario import Cluster, World, eventually
from tests.objects import target_group_binding

NS = "echoserver"
APP = "echoserver"
# Pod addresses come from the VPC's first subnet (10.0.0.0/20), as with the VPC CNI; the EC2
# instances of the nodes take the lowest addresses of their subnets.
POD_CIDR_A = "10.0.8.0/22"
POD_CIDR_B = "10.0.12.0/22"

T = TypeVar("T")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Every test in this folder is marked ``e2e`` here, not module by module (pytest reads no
    ``pytestmark`` from a conftest). This conftest's hooks see only this folder's items."""
    item.add_marker(pytest.mark.e2e)


def wait_blocking(
    probe: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """:func:`eventually` for a synchronous test watching other processes' files and pids."""
    asyncio.run(eventually(probe, timeout=timeout, what=what, interval=interval))


def running(pid: int) -> bool:
    """The process exists and is not a zombie (orphans are reaped by init, maybe late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def wait_exited(pids: Iterable[int], *, timeout: float, what: str) -> None:
    """Wait until none of ``pids`` runs any more; else fail naming those left."""
    pids = list(pids)
    try:
        wait_blocking(lambda: not any(running(p) for p in pids), timeout=timeout, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}: {[p for p in pids if running(p)]} still run") from None


@pytest_asyncio.fixture
async def world(tmp_path: Any) -> AsyncIterator[World]:
    async with World(time_factor=0.02, workdir=tmp_path) as w:
        yield w


async def echoserver(
    cluster: Cluster,
    replicas: int,
    *,
    service_type: str = "ClusterIP",
    gates: tuple[str, ...] = (),
    node_port: int | None = None,
) -> None:
    await cluster.kube.ensure_namespace(NS)
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    if node_port is not None:
        port["nodePort"] = node_port
    await cluster.kube.apply_service(
        NS, APP, type_=service_type, ports=[port], selector={"app": APP}
    )
    await cluster.kube.deploy(NS, APP, replicas, container_port=8080, readiness_gates=gates)


def binding(
    name: str,
    arn: str,
    *,
    target_type: str = "ip",
    multi_cluster: bool = True,
    port: int | str = 80,
    **spec: Any,
) -> dict[str, Any]:
    return target_group_binding(
        name,
        arn,
        namespace=NS,
        service=APP,
        port=port,
        target_type=target_type,
        multi_cluster=multi_cluster,
        **spec,
    )


def pod_targets(cluster: Cluster, port: int = 8080) -> set[str]:
    return {f"{cluster.kube.pod_ip(NS, p)}:{port}" for p in cluster.kube.pod_names(NS, APP)}


async def active_targets(world: World, arn: str) -> set[str]:
    return {t for t, (state, _) in (await world.targets(arn)).items() if state != "draining"}


async def wait_equal(
    world: World,
    read: Callable[[], Awaitable[T]],
    expected: T,
    *,
    what: str,
    timeout: float,
    report: Callable[[T], str],
) -> None:
    """Wait until ``read()`` gives ``expected``, checking the daemons meanwhile; else fail with
    ``report`` of the last reading."""
    last: list[T] = []

    async def probe() -> bool:
        world.check_daemons()
        last[:] = [await read()]
        return last[0] == expected

    try:
        await eventually(probe, timeout=timeout, what=what, interval=0.1)
    except TimeoutError:
        raise AssertionError(f"{what}: {report(last[0]) if last else 'never read'}") from None


async def wait_targets(
    world: World, arn: str, expected: set[str], *, timeout: float = 30.0, what: str = ""
) -> None:
    """Wait until the group's non-draining targets are exactly ``expected``."""

    def report(last: set[str]) -> str:
        return f"missing {sorted(expected - last)}, unexpected {sorted(last - expected)}"

    await wait_equal(
        world,
        lambda: active_targets(world, arn),
        expected,
        what=what or "target set",
        timeout=timeout,
        report=report,
    )


async def converged_binding(
    world: World,
    group: str,
    replicas: int,
    *,
    multi_cluster: bool = True,
    env: dict[str, str] | None = None,
) -> tuple[BoundTargetGroup, Cluster, LabProcess]:
    """Cluster ``a`` with ``replicas`` echoserver pods bound (ip; MultiCluster unless told) to a
    new group ``group`` by one daemon, once the group holds exactly the pods' targets."""
    tg = await world.target_group(group, target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, replicas)
    await a.apply_binding(binding("web", tg.arn, multi_cluster=multi_cluster))
    daemon = await world.start_daemon(a, env=env)
    await wait_targets(world, tg.arn, pod_targets(a), what="converged")
    return tg, a, daemon


async def shared_binding(
    world: World, group: str, replicas: int
) -> tuple[BoundTargetGroup, Cluster, Cluster]:
    """Clusters ``a`` and ``b``, each with ``replicas`` echoserver pods bound (MultiCluster, ip)
    to one new group ``group`` by a daemon of its own, once the group holds both's pods."""
    tg = await world.target_group(group, target_type="ip")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    b = await world.add_cluster("b", nodes=1, pod_cidr=POD_CIDR_B)
    for cluster in (a, b):
        await echoserver(cluster, replicas)
        await cluster.apply_binding(binding("web", tg.arn))
        await world.start_daemon(cluster)
    await wait_targets(world, tg.arn, pod_targets(a) | pod_targets(b), what="both clusters")
    return tg, a, b


async def wait_healthy(world: World, arn: str, targets: set[str], timeout: float = 30.0) -> None:
    async def probe() -> bool:
        found = await world.targets(arn)
        return all(found.get(t, ("", ""))[0] == "healthy" for t in targets)

    await eventually(probe, timeout=timeout, what=f"{len(targets)} healthy targets")


WATCH_START_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def watching(probe: Callable[[], Awaitable[list[str]]]) -> AsyncIterator[list[str]]:
    """Polls ``probe`` over the body (every 50 ms) and collects what it reports, poll by poll.

    The body runs only once a first poll has completed, and the watch stops only after a poll
    that began once the body was done, so the watch covers the whole body however slow each
    poll is (a poll is an AWS describe on a loaded machine).
    """
    found: list[str] = []
    polls = 0
    polled = asyncio.Event()

    async def run() -> None:
        nonlocal polls
        while True:
            found.extend(f"poll {polls}: {what}" for what in await probe())
            polls += 1
            polled.set()
            await asyncio.sleep(0.05)

    async def polls_reach(count: int) -> None:
        while polls < count:
            polled.clear()
            await polled.wait()

    task = asyncio.create_task(run())
    try:
        await asyncio.wait_for(polls_reach(1), WATCH_START_TIMEOUT)
        yield found
        await asyncio.wait_for(polls_reach(polls + 2), WATCH_START_TIMEOUT)  # one whole poll after
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Guard:
    """Polls the group and records every moment a protected target was absent or draining."""

    def __init__(self, world: World, arn: str, protected: set[str]) -> None:
        self.world = world
        self.arn = arn
        self.protected = set(protected)

    async def _probe(self) -> list[str]:
        found = await self.world.targets(self.arn)
        states = ((t, found.get(t, ("absent", ""))[0]) for t in sorted(self.protected))
        return [f"{t} {state}" for t, state in states if state in ("absent", "draining")]

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        async with watching(self._probe) as violations:
            yield
        assert violations == [], f"protected targets were touched: {violations[:10]}"


async def register_foreign(world: World, arn: str, ips: list[str], port: int = 8080) -> set[str]:
    """Targets some other party (another cluster, a human) put in the group."""
    await world.elbv2_for(arn).register_targets(
        TargetGroupArn=arn, Targets=[{"Id": ip, "Port": port} for ip in ips]
    )
    return {f"{ip}:{port}" for ip in ips}


async def binding_status(cluster: Cluster, name: str) -> dict[str, Any]:
    found = await cluster.get_binding(NS, name)
    assert found is not None
    status: dict[str, Any] = found.get("status") or {}
    return status


async def ready_condition(cluster: Cluster, name: str) -> dict[str, Any] | None:
    for cond in (await binding_status(cluster, name)).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


async def wait_ready_reason(
    cluster: Cluster, name: str, reason: str, *, timeout: float, world: World | None = None
) -> dict[str, Any]:
    """Binding ``name``'s Ready condition, once it gives ``reason`` (checking ``world``'s
    daemons meanwhile, when given)."""

    async def probe() -> dict[str, Any] | None:
        if world is not None:
            world.check_daemons()
        cond = await ready_condition(cluster, name)
        return cond if cond is not None and cond["reason"] == reason else None

    found: dict[str, Any] = await eventually(probe, timeout=timeout, what=f"Ready {reason}")
    return found


async def wait_refused(
    cluster: Cluster, name: str, reason: str, *, timeout: float, message: str = ""
) -> dict[str, Any]:
    """Binding ``name`` once Ready=False for ``reason``, its message holding ``message``, with
    a Warning event of that reason; the condition."""
    cond = await wait_ready_reason(cluster, name, reason, timeout=timeout)
    assert cond["status"] == "False"
    assert message in cond["message"]
    assert reason in await warning_reasons(cluster)
    return cond


async def wait_binding_gone(cluster: Cluster, name: str, *, what: str, timeout: float = 20) -> None:
    async def gone() -> bool:
        return await cluster.get_binding(NS, name) is None

    await eventually(gone, timeout=timeout, what=what)


async def warning_reasons(cluster: Cluster) -> set[str]:
    return {e.get("reason", "") for e in await cluster.events(NS) if e.get("type") == "Warning"}
