"""Ingress → ALB and Service → NLB stacks as pure values, LBC-identical.

Flow: ``views`` (raw Kubernetes JSON → ``inputs``) → ``ingress_groups`` (claiming, groups,
finalizers) → ``ingress`` / ``service`` (the builders; helpers ``ingress_ports``,
``ingress_rules``, ``ingress_backends``, ``service_targets``, ``subnets``, ``security_groups``) →
``model.Stack`` → ``changes`` (the deployer's plan against what ``observed`` found).
``names``, ``tags`` and ``annotations`` hold LBC's naming, tag precedence and parsing rules.
Nothing here performs I/O or reads a clock.
"""
