"""The CLI's one error: what the user did wrong and what to do instead."""

from __future__ import annotations


class CliError(Exception):
    """A user error: printed as `kiln: error: ...`, exit status 2."""
