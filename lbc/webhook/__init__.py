"""Admission webhooks for TargetGroupBindings and Pods, served over HTTPS by every replica.

- :mod:`review`: the AdmissionReview v1 wire format and verdicts;
- :mod:`certs`: the serving certificate from the mounted Secret, reloaded on rotation;
- :mod:`caches`: what the webhooks read of the cluster (informer stores, by index);
- :mod:`defaults`: the mutating binding webhook (name → ARN, fields inferred from the group);
- :mod:`validation`: the validating binding webhook (required, immutable, duplicate ARNs);
- :mod:`readinessgates`: the mutating Pod webhook (readiness gates of ip bindings);
- :mod:`server`: the HTTPS server and its wiring into the daemon.

Layering: ``lbc.app`` → ``lbc.webhook`` → ``lbc.control`` (the webhooks read the controller's
caches and its ELBv2 port, and never reconcile anything).
"""
