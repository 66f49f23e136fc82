"""Errors of the application library, each with a message a developer can act on."""

from __future__ import annotations


class UnknownTopicError(LookupError):
    """A topic, or a name part of one, that the platform does not hold; the message says what it holds."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class PlatformLoadError(RuntimeError):
    """The platform's description could not be read (a missing file, a failing `pulumi stack output`)."""


class CredentialsError(ValueError):
    """The platform needs credentials the application did not pass."""
