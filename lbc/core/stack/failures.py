"""The one exception the stack builders raise internally; the public entry points turn it into
a :class:`~lbc.core.stack.model.BuildError` value (event reason ``FailedBuildModel``)."""

from __future__ import annotations

from lbc.core.errors import TerminalError


class BuildFailure(TerminalError):  # noqa: N818 - a failure value, named as LBC's event reason
    """The inputs cannot be built into a stack until one of them changes."""

    reason = "FailedBuildModel"
