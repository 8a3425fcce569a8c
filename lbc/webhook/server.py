"""The HTTPS admission server: AdmissionReview v1 in, verdict out, on every replica.

The API server calls the webhook Service, which load-balances across every ready lbc pod, so
every replica serves (leader or standby, from the same warm caches), and the server runs for
the daemon's whole life: it stops with the probe servers, last in the ordered shutdown, so
admissions keep succeeding while the pod drains out of the Service.

Paths (as in the reference controller's configuration):

- ``/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding`` (:mod:`lbc.webhook.defaults`)
- ``/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding`` (:mod:`lbc.webhook.validation`)
- ``/mutate-v1-pod`` (:mod:`lbc.webhook.readinessgates`)

Every review gets an answer within :data:`DECISION_BUDGET` seconds (below the configuration's
``timeoutSeconds`` of 10), denying with code 500 when a look-up takes longer: an answer the
user can read beats the API server's generic timeout. A body that is not an AdmissionReview
gets HTTP 400.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, final

import anyio
import anyio.abc
import orjson
from aiohttp import web

from lbc.control.controller import BindingController
from lbc.core.errors import TerminalError
from lbc.observe.log import get_logger
from lbc.observe.metrics import counter, histogram
from lbc.settings import Settings, split_addr
from lbc.webhook.caches import ClusterCaches, GroupLookup
from lbc.webhook.certs import ServingCertificate
from lbc.webhook.defaults import mutate_binding
from lbc.webhook.readinessgates import inject_gates
from lbc.webhook.review import (
    AdmissionRequest,
    MalformedReviewError,
    Verdict,
    deny,
    parse_review,
    review_response,
)
from lbc.webhook.validation import BindingValidator

MUTATE_BINDING: Final = "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
VALIDATE_BINDING: Final = "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding"
MUTATE_POD: Final = "/mutate-v1-pod"
DECISION_BUDGET: Final = 8.0
MAX_BODY: Final = 3 * 1024 * 1024

REVIEWS: Final = counter(
    "lbc_webhook_reviews_total",
    "Admission reviews answered, by webhook path and verdict (allowed, denied, error).",
    ["webhook", "verdict"],
)
REVIEW_DURATION: Final = histogram(
    "lbc_webhook_review_duration_seconds",
    "Time to answer an admission review, by webhook path.",
    ["webhook"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
)

_log = get_logger("lbc.webhook")

Decide = Callable[[AdmissionRequest], Awaitable[Verdict]]


@final
class WebhookServer:
    """Serves the three webhooks over TLS; run :meth:`serve` in a task group with ``start``."""

    def __init__(
        self,
        caches: ClusterCaches,
        groups: GroupLookup,
        certificate: ServingCertificate,
        *,
        addr: str,
        budget: float = DECISION_BUDGET,
        inject_readiness_gates: bool = True,
    ) -> None:
        self._caches = caches
        self._certificate = certificate
        self._addr = split_addr(addr)
        self._budget = budget
        validator = BindingValidator(caches, groups)

        async def mutate_pod(request: AdmissionRequest) -> Verdict:
            return inject_gates(request, caches, enabled=inject_readiness_gates)

        async def mutate(request: AdmissionRequest) -> Verdict:
            return await mutate_binding(request, groups)

        self._decisions: dict[str, Decide] = {
            MUTATE_BINDING: mutate,
            VALIDATE_BINDING: validator.validate,
            MUTATE_POD: mutate_pod,
        }
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _review(self, request: web.Request) -> web.Response:
        path = request.path
        decide = self._decisions[path]
        started = time.perf_counter()
        try:
            review = parse_review(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, MalformedReviewError) as err:
            REVIEWS.labels(path, "error").inc()
            return web.Response(status=400, text=f"not an AdmissionReview v1: {err}\n")
        verdict: Verdict | None = None
        with anyio.move_on_after(self._budget):
            verdict = await decide(review)
        if verdict is None:
            verdict = deny(f"lbc could not decide within {self._budget:g}s; try again", 500)
        REVIEW_DURATION.labels(path).observe(time.perf_counter() - started)
        REVIEWS.labels(path, "allowed" if verdict.allowed else "denied").inc()
        if not verdict.allowed:
            _log.info(
                "admission_denied",
                webhook=path,
                operation=review.operation,
                tgb=f"{review.namespace}/{review.name}",
                message=verdict.message,
            )
        return web.Response(
            body=orjson.dumps(review_response(review.uid, verdict)),
            content_type="application/json",
        )

    def _routes(self) -> Sequence[web.RouteDef]:
        return [web.post(path, self._review) for path in self._decisions]

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(self._routes())
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(
            runner,
            self._addr[0],
            self._addr[1],
            ssl_context=self._certificate.listener,
            reuse_address=True,
        )
        await site.start()
        server: Any = site._server  # aiohttp exposes the bound port only through the server
        sockets = getattr(server, "sockets", None) or []
        if not sockets:
            raise RuntimeError(f"no listening socket on {self._addr[0]}:{self._addr[1]}")
        self.port = int(sockets[0].getsockname()[1])

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind, report started, serve and watch for certificate rotation until cancelled."""
        try:
            await self.start()
            _log.info("webhook_serving", port=self.port)
            task_status.started()
            await self._certificate.run()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                if self._runner is not None:
                    await self._runner.cleanup()


def webhook_server(settings: Settings, controllers: Sequence[object]) -> WebhookServer | None:
    """The daemon's webhook server, or None when ``LBC_WEBHOOK_CERT_DIR`` is empty.

    Reads the binding controller's stores and ELBv2 port; call it before the informers run
    (it adds the webhooks' indexes to the binding store). Unreadable certificate files are a
    ``TerminalError`` (the daemon exits as misconfigured).
    """
    if not settings.webhook_cert_dir:
        return None
    controller = next((c for c in controllers if isinstance(c, BindingController)), None)
    if controller is None:
        return None
    try:
        certificate = ServingCertificate(
            settings.webhook_cert_dir, period=settings.webhook_cert_reload_period
        )
    except (OSError, ssl.SSLError) as err:
        raise TerminalError(
            f"LBC_WEBHOOK_CERT_DIR {settings.webhook_cert_dir}: no usable tls.crt/tls.key: {err}",
            reason="WebhookCertificate",
        ) from None
    caches = ClusterCaches(controller.bindings.store, controller.services.store)
    return WebhookServer(
        caches,
        controller.target_groups,
        certificate,
        addr=settings.webhook_addr,
        inject_readiness_gates=settings.readiness_gate_inject,
    )
