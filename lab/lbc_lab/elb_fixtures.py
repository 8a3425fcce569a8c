"""pytest fixtures for the lab ELBv2/EC2 server (a plugin loaded by the root conftest.py).

- ``elb_lab_server`` (session): one lab server in a child process for the whole session; it
  stops with the session, and by itself if pytest dies (it exits when its stdin closes).
- ``elb_lab`` (function): the same server, reset before the test (no AWS resources, no faults,
  no overrides, empty call log, clock at factor 1 and running), with dummy AWS credentials and
  region in the environment for the test's duration only (monkeypatch restores them).

Usage::

    async def test_something(elb_lab: ElbLab) -> None:
        async with elb_lab.client("ec2") as ec2, elb_lab.client("elbv2") as elbv2:
            net = await create_network(ec2)
            tg = await create_target_group(elbv2, net, "web")
            await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(0)}])
        elb_lab.control.advance(300)            # jump lab time: health checks pass
        assert elb_lab.control.count("RegisterTargets", outcome="ok") == 1
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from lbc_lab.elb_control import LabElbControl
from lbc_lab.elb_process import LabElbProcess

REGION = "us-east-1"
ACCESS_KEY = "lab-access-key"
_SESSION: AioSession | None = None
SECRET_KEY = "lab-secret-key"  # noqa: S105  # a dummy the lab accepts, not a secret


class ElbLab:
    """Handle on a reset lab server: its endpoint, its control plane and client factories."""

    def __init__(self, endpoint_url: str, region: str = REGION) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.control = LabElbControl(endpoint_url)
        self._keys: dict[str, dict[str, str]] = {}

    @property
    def env(self) -> dict[str, str]:
        """Environment a daemon process needs to talk to this lab."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "LBC_AWS_ENDPOINT_URL": self.endpoint_url,
            "LBC_AWS_REGION": self.region,
            # Never reach for the instance metadata service (a multi-second timeout off EC2).
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def session(self) -> AioSession:
        """One session per process: it caches the service models a new session would reload
        (a tenth of a second per client)."""
        global _SESSION  # noqa: PLW0603  # a process-wide cache, by design
        if _SESSION is None:
            _SESSION = get_session()
        return _SESSION

    @contextlib.asynccontextmanager
    async def client(
        self,
        service: str,
        *,
        retry_mode: str = "standard",
        max_attempts: int = 3,
        timeout: float = 10.0,
        read_timeout: float | None = None,
        account: str | None = None,
    ) -> AsyncIterator[Any]:
        """An aiobotocore client for ``service`` (``ec2``, ``elbv2``, ``iam``) pointed at the lab.

        ``max_attempts`` counts the first attempt (1 = no retry), like ``AWS_MAX_ATTEMPTS``;
        ``timeout`` bounds connecting and reading, ``read_timeout`` (when given) reading alone.
        With ``account``, the client signs with keys of an IAM user ``lbc`` of that account (its
        requests are answered there); without, with the dummy keys of moto's default account.
        """
        access_key, secret_key = ACCESS_KEY, SECRET_KEY
        if account is not None:
            user = self.account_keys(account)
            access_key, secret_key = user["access_key_id"], user["secret_access_key"]
        config = AioConfig(
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            connect_timeout=timeout,
            read_timeout=timeout if read_timeout is None else read_timeout,
        )
        async with self.session().create_client(
            service,  # type: ignore[call-overload]  # the service name is a run-time choice
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        ) as client:
            yield client

    def account_keys(self, account: str) -> dict[str, str]:
        """Keys of the IAM user ``lbc`` of ``account``, made once per reset lab."""
        found = self._keys.get(account)
        if found is None:
            found = self._keys[account] = self.control.account_user(account)
        return found


@pytest.fixture(scope="session")
def elb_lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabElbProcess]:
    """The session's lab ELBv2/EC2 server (child process; stderr in the session tmp dir)."""
    log = tmp_path_factory.mktemp("lab-elb") / "server.log"
    with LabElbProcess(log_path=log) as server:
        yield server


@pytest.fixture
def elb_lab(elb_lab_server: LabElbProcess, monkeypatch: pytest.MonkeyPatch) -> ElbLab:
    """The session's lab server, reset for this test, with dummy AWS credentials in the env."""
    lab = ElbLab(elb_lab_server.endpoint_url)
    lab.control.reset()
    for key, value in lab.env.items():
        monkeypatch.setenv(key, value)
    # A developer's own profile or session token must not leak into requests to the lab.
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return lab
