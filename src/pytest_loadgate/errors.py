"""Exceptions raised by the plugin."""

from __future__ import annotations


class LoadgateConfigError(ValueError):
    """A marker argument, option or ini value is invalid; the message names it and its value."""


class LoadgateServerError(RuntimeError):
    """The system under test could not be started or died; the message carries its log tail."""


class LoadgateWarning(UserWarning):
    """Something about a load run that deserves attention but does not decide its verdict."""
