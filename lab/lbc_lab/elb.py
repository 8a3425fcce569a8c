"""The lab's AWS: moto's EC2 + ELBv2 server with lbc's fidelity layer, faults and a call log.

Every test, demo and benchmark talks to this instead of AWS. moto is the base; the layer closes
the gaps that matter to lbc (measured against moto 5.2):

- targets are keyed by ``(Id, Port)`` (moto keys by Id: one IP on two ports collapsed, and a
  deregistration with any port removed it); AvailabilityZone is echoed;
- health moves like ELBv2's: ``initial`` (``Elb.RegistrationInProgress``, then
  ``Elb.InitialHealthChecking``) → ``healthy`` after interval * healthy-threshold; deregistration
  drains (``Target.DeregistrationInProgress``) for the group's deregistration delay; a group no
  load balancer forwards to reports ``unused`` / ``Target.NotInUse``; per target, health checks
  can be made to fail (``Target.FailedHealthChecks``, ``Target.Timeout``) or the target unused;
- validation as AWS: unknown or stopped instances (``InvalidTarget``), a target of the wrong
  type, ip targets outside the VPC without AvailabilityZone ``all`` (``ValidationError``), more
  than the per-group quota (``TooManyTargets``, default 1,000), malformed ARNs
  (``ValidationError``), unknown groups (``TargetGroupNotFound``);
- faults per operation: throttling ("Rate exceeded"), 5xx, latency, token buckets;
- a call log of every AWS call (operation, target group, target count, time, outcome).

Delays run on a lab clock (:mod:`lbc_lab.elb_clock`): ``time_factor`` 1 is realistic (the demo),
0.01 makes them 100 times shorter, and tests can pause the clock and jump it forward.

Run it::

    python -m lbc lab elb [--port N] [--time-factor F]      # foreground until SIGTERM/SIGINT
    # prints {"endpoint_url": "http://127.0.0.1:<port>", "pid": ...} on stdout when ready;
    # any region and any dummy credentials are accepted.
    LBC_AWS_ENDPOINT_URL=http://127.0.0.1:<port> AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \\
        AWS_DEFAULT_REGION=us-east-1 python -m lbc run ...

Steer it (tests, demo, benchmarks)::

    from lbc_lab.elb import LabElbControl, LabElbProcess
    with LabElbProcess(time_factor=0.01) as lab:            # or LabElbControl(url) if running
        ctl = lab.control
        ctl.set_clock(paused=True); ctl.advance(200)          # deterministic health transitions
        ctl.set_health("10.0.0.7", "unhealthy", reason="Target.Timeout", port=8080)
        ctl.throttle("RegisterTargets", count=2)              # next two calls: Throttling
        ctl.throttle("DescribeTargetHealth", fraction=0.3)    # 30 % of calls (seeded random)
        ctl.fail("DeregisterTargets", status=503, code="ServiceUnavailable", count=1)
        ctl.delay("*", latency_ms=50)
        ctl.rate_limit("DescribeTargetHealth", rate=10, burst=20)   # account rate limit
        ctl.configure(target_quota=100, registration_seconds=0)
        ctl.count("RegisterTargets", outcome="ok"); ctl.calls(since=mark)
        ctl.reset()

In pytest, the ``elb_lab`` fixture (:mod:`lbc_lab.elb_fixtures`) gives a reset lab per test with
``elb_lab.client("elbv2")`` (aiobotocore, dummy credentials) and ``elb_lab.control``; scenario
helpers (VPC + subnets, running instances, a target group behind an NLB listener) are in
:mod:`lbc_lab.elb_scenario`.

HTTP control plane (JSON), on the same port: ``GET /_lab/status``, ``POST /_lab/reset``,
``POST /_lab/clock`` {time_factor, paused, advance}, ``POST /_lab/settings`` {target_quota,
registration_seconds}, ``POST|GET|DELETE /_lab/health``, ``POST|GET|DELETE /_lab/faults``,
``POST|DELETE /_lab/buckets``, ``GET /_lab/calls?since=N``, ``DELETE /_lab/calls``.

Load-balancer stacks: the fidelity rules of ``elb_rules`` (idempotent creates, duplicate names
and ports, one load balancer per target group, deletion protection, security groups in use, tag
limits, DNS names, states) are on by default; ``ctl.set_fidelity(lb_name_unique=False)`` turns
one off to show moto's own behaviour, ``ctl.fidelity()`` lists them (``/_lab/fidelity``).

Modules: ``elb_rules`` (the stack rules), ``elb_stacks`` and ``elb_tagging`` (their backend
overrides), ``elb_clock`` (lab time), ``elb_health`` (health states), ``elb_targets`` ((id, port)
tables, overrides), ``elb_backend`` (the moto backend subclass and validation), ``elb_faults``
(faults, buckets, call log), ``elb_server`` (WSGI layer and control plane), ``elb_control``
(client), ``elb_process`` (child process), ``elb_scenario`` (helpers), ``elb_fixtures`` (pytest).
"""

from __future__ import annotations

from collections.abc import Sequence

from lbc_lab.elb_control import LabControlError, LabElbControl
from lbc_lab.elb_faults import CallRecord
from lbc_lab.elb_process import LabElbProcess, serve

__all__ = ["CallRecord", "LabControlError", "LabElbControl", "LabElbProcess", "main"]


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m lbc lab elb``."""
    return serve(argv)
