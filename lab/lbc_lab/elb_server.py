"""The lab's AWS endpoint: moto's server app behind a layer of faults, a call log and controls.

One HTTP port serves three things:

- EC2, ELBv2, IAM and STS (AWS query protocol), answered by moto's own WSGI application with
  the ELBv2 backend replaced by :class:`~lbc_lab.elb_backend.LabElbv2Backend`, in the account
  whose credentials signed the request (:mod:`lbc_lab.elb_accounts`), and STS AssumeRole
  refused unless the role's trust policy allows the caller;
- in front of it, per call: fault injection (latency, throttling, 5xx, token buckets) and the
  call log, both decided from the request's service (SigV4 credential scope), ``Action`` and
  account;
- ``/_lab/...``: the JSON control plane (reset, clock, settings, fidelity rules, health
  overrides, faults, buckets, call log, account users, target groups seeded in bulk) that
  :class:`~lbc_lab.elb_control.LabElbControl` speaks.

moto's backends are not thread-safe, and werkzeug serves each request on its own thread, so
every call into moto and every control-plane change holds one lock. Injected latency is served
*outside* that lock: a slow call must not slow down the others, as on real AWS.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from moto.core.exceptions import ServiceException
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.serving import BaseWSGIServer, make_server

from lbc_lab import elb_wire as wire
from lbc_lab.elb_accounts import (
    access_key_of,
    account_of,
    assume_role_refusal,
    caller_of,
    create_user,
)
from lbc_lab.elb_backend import LabElbv2Backend, LabState, backend_class
from lbc_lab.elb_clock import LabClock
from lbc_lab.elb_faults import CallLog, FaultInjector, FaultRule, InjectedError, TokenBucket
from lbc_lab.elb_health import Verdict
from lbc_lab.elb_tagging import security_group_in_use
from lbc_lab.elb_targets import HealthOverride

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_MEMBER_ID = re.compile(r"^Targets\.member\.\d+\.Id$")
_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_SERVICES = {"elasticloadbalancing": "elbv2"}


# -- control-plane request bodies (pydantic at the edge) ------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockBody(_Body):
    time_factor: float | None = Field(default=None, gt=0)
    paused: bool | None = None
    advance: float = Field(default=0.0, ge=0)


class SettingsBody(_Body):
    target_quota: int | None = Field(default=None, ge=0)
    registration_seconds: float | None = Field(default=None, ge=0)


class HealthBody(_Body):
    target_id: str
    state: str
    reason: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    target_group_arn: str | None = None


class BucketBody(_Body):
    operation: str
    rate: float = Field(gt=0)
    burst: int = Field(ge=1)
    service: str = "*"
    account: str = "*"


class AccountUserBody(_Body):
    account_id: str = Field(pattern=r"^\d{12}$")
    user_name: str = "lbc"


class ResetBody(_Body):
    seed: int | None = None


class SeedGroup(_Body):
    name: str
    targets: list[tuple[str, int]] = Field(default_factory=list)


class SeedGroupsBody(_Body):
    """Target groups made (and their targets registered) in one control call: what a fleet of
    ``CreateTargetGroup`` and ``RegisterTargets`` calls would leave, without the wire."""

    vpc_id: str
    groups: list[SeedGroup]
    protocol: str = "TCP"
    port: int = Field(default=80, ge=1, le=65535)
    target_type: str = "ip"
    region: str = "us-east-1"
    account: str = Field(default=DEFAULT_ACCOUNT_ID, pattern=r"^\d{12}$")


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- the application ----------------------------------------------------------------------------


class LabElbApp:
    """The WSGI application: control plane, faults and call log around moto's app."""

    def __init__(self, *, time_factor: float = 1.0, seed: int = 0) -> None:
        self.state = LabState(clock=LabClock(time_factor))
        self.faults = FaultInjector(seed=seed)
        self.calls = CallLog()
        self._lock = threading.RLock()
        self._default_factor = time_factor
        elbv2_backends.backend = backend_class(self.state)
        moto_api_backend.reset()
        self._moto = DomainDispatcherApplication(create_backend_app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_lab/"):
            return self._control(environ, start_response)
        return self._aws(environ, start_response)

    # -- AWS calls ----------------------------------------------------------------------------

    def _aws(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        body = _read_body(environ)
        params = parse_qs(body.decode("utf-8", "replace")) if body else {}
        if not params and environ.get("QUERY_STRING"):
            params = parse_qs(environ["QUERY_STRING"])
        service, region = _scope(environ)
        operation = _first(params, "Action") or environ.get("HTTP_X_AMZ_TARGET", "?")
        target_group = _first(params, "TargetGroupArn")
        target_count = sum(len(v) for k, v in params.items() if _MEMBER_ID.match(k))
        with self._lock:
            account = account_of(environ)

        decision = self.faults.decide(service, operation, account)
        if decision.latency_s > 0:
            # Emulated service latency, deliberately outside the lock (it is the behaviour under
            # test, not a wait for a condition).
            time.sleep(decision.latency_s)
        headers: list[tuple[str, str]] = [("Content-Type", "text/xml")]
        refusal = (
            self._refusal(account, service, operation, region, params)
            if decision.error is None
            else None
        )
        code: str | None
        if refusal is not None:
            status, payload, code = refusal.status, _error_xml(service, refusal), refusal.code
        elif decision.error is not None:
            status, payload = decision.error.status, _error_xml(service, decision.error)
            code = decision.error.code
            json_protocol = "Action" not in params and bool(environ.get("HTTP_X_AMZ_TARGET"))
            if json_protocol and self.state.settings.stacks.json_faults:
                headers = [("Content-Type", "application/x-amz-json-1.1")]
                payload = _error_json(decision.error)
        elif (
            service == "sts"
            and operation == "AssumeRole"
            and (denied := self._assume_role_refusal(environ, params))
        ):
            status, payload = 403, wire.error_xml("AccessDenied", denied, status=403)
            code = "AccessDenied"
        elif service == "elbv2" and operation in wire.TARGET_OPERATIONS:
            with self._lock:
                backend = elbv2_backends[account][region]
                if not isinstance(backend, LabElbv2Backend):
                    raise TypeError("the lab's ELBv2 backend is not installed")
                status, payload = wire.serve(backend, operation, params)
            code = _error_code(payload) if status >= 400 else None
        else:
            with self._lock:
                status, headers, payload = _call_wsgi(self._moto, environ, body)
            code = _error_code(payload) if status >= 400 else None
        result_count = (
            payload.count(b"<TargetHealth>")
            if operation == "DescribeTargetHealth" and status < 400
            else None
        )
        self.calls.append(
            time=time.time(),
            service=service,
            operation=operation,
            target_group_arn=target_group,
            target_count=target_count,
            outcome="ok" if status < 400 else (code or f"HTTP{status}"),
            status=status,
            account=account,
            injected=decision.error.kind if decision.error else None,
            duration_ms=(time.perf_counter() - started) * 1000.0,
            result_count=result_count,
        )
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {_reason(status)}", headers)
        return [payload]

    def _assume_role_refusal(self, environ: Environ, params: dict[str, list[str]]) -> str | None:
        with self._lock:
            return assume_role_refusal(
                caller_of(access_key_of(environ)),
                _first(params, "RoleArn") or "",
                _first(params, "ExternalId"),
            )

    def _refusal(
        self,
        account: str,
        service: str,
        operation: str,
        region: str,
        params: dict[str, list[str]],
    ) -> InjectedError | None:
        """An AWS refusal decided before moto sees the call (EC2 rules moto lacks)."""
        if service != "ec2" or operation != "DeleteSecurityGroup":
            return None
        group_ids = params.get("GroupId") or []
        with self._lock:
            why = security_group_in_use(account, region, group_ids)
        if why is None:
            return None
        return InjectedError(kind="fidelity", status=400, code="DependencyViolation", message=why)

    # -- control plane --------------------------------------------------------------------------

    def _control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "")[len("/_lab/") :].strip("/")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        raw = _read_body(environ)
        try:
            data = json.loads(raw) if raw.strip() else {}
            with self._lock:
                result = self._route(method, route, data, query)
            status = 200
        except _ControlError as err:
            status, result = err.status, {"error": str(err)}
        except (ValidationError, ValueError, TypeError) as err:
            status, result = 400, {"error": str(err)}
        payload = json.dumps(result).encode()
        start_response(
            f"{status} {_reason(status)}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _route(self, method: str, route: str, data: Any, query: dict[str, list[str]]) -> Any:
        match (method, route):
            case ("GET", "status"):
                return self._status()
            case ("POST", "reset"):
                self.reset(ResetBody.model_validate(data).seed)
                return self._status()
            case ("POST", "clock"):
                body = ClockBody.model_validate(data)
                clock = self.state.clock.configure(
                    time_factor=body.time_factor, paused=body.paused, advance=body.advance
                )
                return asdict(clock)
            case ("POST", "settings"):
                body_s = SettingsBody.model_validate(data)
                if body_s.target_quota is not None:
                    self.state.settings.target_quota = body_s.target_quota
                if body_s.registration_seconds is not None:
                    self.state.settings.registration_seconds = body_s.registration_seconds
                return asdict(self.state.settings)
            case ("POST", "fidelity"):
                if not isinstance(data, dict):
                    raise TypeError("a fidelity change is a JSON object of rule: value")
                self.state.settings.stacks.update(data)
                return asdict(self.state.settings.stacks)
            case ("GET", "fidelity"):
                return asdict(self.state.settings.stacks)
            case ("POST", "health"):
                return {"applied": self._override(HealthBody.model_validate(data))}
            case ("GET", "health"):
                return [_override_view(r) for r in self.state.overrides]
            case ("DELETE", "health"):
                self.state.overrides.clear()
                return {}
            case ("POST", "faults"):
                self.faults.add_rule(FaultRule(**_Rule.model_validate(data).model_dump()))
                return self.faults.view()
            case ("GET", "faults"):
                return self.faults.view()
            case ("DELETE", "faults"):
                self.faults.clear_rules()
                self.faults.clear_buckets()
                return self.faults.view()
            case ("POST", "buckets"):
                b = BucketBody.model_validate(data)
                self.faults.add_bucket(
                    TokenBucket(b.operation, b.rate, b.burst, b.service, b.account)
                )
                return self.faults.view()
            case ("DELETE", "buckets"):
                self.faults.clear_buckets()
                return self.faults.view()
            case ("GET", "calls"):
                since = int(query.get("since", ["0"])[0])
                return [asdict(r) for r in self.calls.since(since)]
            case ("DELETE", "calls"):
                self.calls.clear()
                return {}
            case ("POST", "target-groups"):
                return self._seed_groups(SeedGroupsBody.model_validate(data))
            case ("POST", "accounts"):
                body_a = AccountUserBody.model_validate(data)
                return create_user(body_a.account_id, body_a.user_name)
        raise _ControlError(404, f"no control endpoint {method} /_lab/{route}")

    def reset(self, seed: int | None = None) -> None:
        """Forget every AWS resource, rule, override and logged call; restore default knobs."""
        with self._lock:
            moto_api_backend.reset()
            self.state.reset()
            self.state.clock.configure(time_factor=self._default_factor, paused=False)
            self.faults.reset(seed)
            self.calls.clear()

    def _status(self) -> dict[str, Any]:
        return {
            "clock": asdict(self.state.clock.state()),
            "settings": asdict(self.state.settings),
            "faults": self.faults.view(),
        }

    def _seed_groups(self, body: SeedGroupsBody) -> list[str]:
        """Create the groups and register their targets through the backend's own operations
        (moto's creation checks, the lab's target validation), skipping only HTTP and SigV4."""
        backend = elbv2_backends[body.account][body.region]
        if not isinstance(backend, LabElbv2Backend):
            raise TypeError("the lab's ELBv2 backend is not installed")
        arns: list[str] = []
        for seed in body.groups:
            try:
                group = backend.create_target_group(
                    seed.name,
                    vpc_id=body.vpc_id,
                    protocol=body.protocol,
                    port=str(body.port),
                    target_type=body.target_type,
                )
                if seed.targets:
                    backend.register_targets(
                        group.arn, [{"Id": ip, "Port": port} for ip, port in seed.targets]
                    )
            except ServiceException as err:
                raise _ControlError(400, f"{seed.name}: {err.code}: {err.message}") from err
            arns.append(group.arn)
        return arns

    def _override(self, body: HealthBody) -> int:
        rule = HealthOverride(
            target_id=body.target_id,
            verdict=Verdict.of(body.state, body.reason),
            port=body.port,
            target_group_arn=body.target_group_arn,
        )
        self.state.overrides.add(rule)
        applied = 0
        for _, _, backend in elbv2_backends.iter_backends():
            if isinstance(backend, LabElbv2Backend):
                applied += backend.apply_override(rule)
        return applied


class _Rule(_Body):
    kind: str = Field(pattern="^(throttle|error|latency)$")
    operation: str = "*"
    service: str = "*"
    account: str = "*"
    fraction: float = Field(default=1.0, ge=0, le=1)
    skip: int = Field(default=0, ge=0)
    count: int | None = Field(default=None, ge=0)
    period: int | None = Field(default=None, ge=1)
    burst: int = Field(default=1, ge=1)
    status: int = 500
    code: str = "InternalFailure"
    message: str = "An internal error has occurred"
    latency_ms: float = Field(default=0.0, ge=0)


def _override_view(rule: HealthOverride) -> dict[str, Any]:
    return {
        "target_id": rule.target_id,
        "state": rule.verdict.state.value,
        "reason": rule.verdict.reason,
        "port": rule.port,
        "target_group_arn": rule.target_group_arn,
    }


# -- WSGI plumbing ------------------------------------------------------------------------------


def _read_body(environ: Environ) -> bytes:
    """Read the request body once and put a fresh stream back for the next reader."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _call_wsgi(app: Any, environ: Environ, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    environ["wsgi.input"] = io.BytesIO(body)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = list(headers)
        return lambda _data: None

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], payload


def _scope(environ: Environ) -> tuple[str, str]:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return "unknown", "us-east-1"
    region, service = match.group(1), match.group(2)
    return _SERVICES.get(service, service), region


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _error_code(payload: bytes) -> str | None:
    match = _ERROR_CODE.search(payload)
    return match.group(1).decode() if match else None


def _error_xml(service: str, error: InjectedError) -> bytes:
    if service == "ec2":
        request_id = str(uuid.uuid4())
        code, message = _xml_escape(error.code), _xml_escape(error.message)
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return text.encode()
    return wire.error_xml(error.code, error.message, status=error.status)


def _error_json(error: InjectedError) -> bytes:
    """The JSON protocol's error shape (botocore reads ``__type`` and ``message``)."""
    return json.dumps({"__type": error.code, "message": error.message}).encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# -- the server ---------------------------------------------------------------------------------


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a log line per request (the call log has them), and
    with keep-alive as on AWS: under HTTP/1.0 every call opened a connection of its own (a
    connect, a close and a DNS lookup in the client's thread pool per call)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class LabElbServer:
    """The lab endpoint served by a thread on ``host:port`` (0 picks a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, time_factor: float = 1.0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.app = LabElbApp(time_factor=time_factor)
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how long stop() waits for the loop to notice
            name="lab-elb-server",
            daemon=True,
        )

    @property
    def endpoint_url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> LabElbServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
