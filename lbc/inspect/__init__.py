"""``lbc inspect``: read-only answers to "who owns each target of this group, across clusters?"
and "what would the daemon do to this binding now, and why?".

A layer of its own beside ``lbc.app`` (import-linter): it reuses the core's decisions
(``core.desired``, the ledger codec, ``core.plan``, the checkpoint) and the adapters' reads
(``lbc.kube`` client, views and ledger reading; ``lbc.aws`` target groups and health) and adds
only what an operator needs on top: gathering from several clusters (``sources``, ``gather``),
the ownership verdicts (``ownership``, pure), the plan's explanation (``explain``, pure), and
the outputs (``render``). Nothing here writes to Kubernetes or AWS.
"""
