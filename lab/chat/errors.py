"""What the chat room refuses, and why: one small tree, each with the HTTP status it means.

Every refusal but :class:`ChatUnavailable` (the broker's outage, 503) is the
client's to fix, and says how. The HTTP handlers answer
with ``status`` and ``{"error": str(exc)}``; a WebSocket gets
``{"type": "error", "error": ...}``. Between the processes of
``--workers N`` a refusal travels as :func:`to_wire`'s fields and is rebuilt
by :func:`from_wire`, so a worker refuses exactly as the primary's room did.
"""

from __future__ import annotations

from typing import Any

from lab.limits import retry_after


class ChatError(ValueError):
    """A chat request the client got wrong; the message says what to fix."""

    status = 400


class UnknownToken(ChatError):
    """No token, or one that never was or has left (HTTP 401)."""

    status = 401


class WrongUser(ChatError):
    """A ``user`` that is not the token's name (HTTP 403)."""

    status = 403


class NameTaken(ChatError):
    """A join with a name already online (HTTP 409)."""

    status = 409


class RateLimited(ChatError):
    """A post over the rate limit (HTTP 429); ``retry_after`` whole seconds, at least 1."""

    status = 429

    def __init__(self, wait: float) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after(wait)


class ChatUnavailable(ChatError):
    """The room cannot be reached now (a broker node whose Redis went away): try again later
    (HTTP 503)."""

    status = 503


ERRORS: dict[str, type[ChatError]] = {
    cls.__name__: cls
    for cls in (ChatError, UnknownToken, WrongUser, NameTaken, RateLimited, ChatUnavailable)
}


def to_wire(exc: ChatError) -> dict[str, Any]:
    """A refusal as JSON fields: its kind, its message and (when limited) the wait."""
    fields: dict[str, Any] = {"error": str(exc), "kind": type(exc).__name__}
    if isinstance(exc, RateLimited):
        fields["retry_after"] = exc.retry_after
    return fields


def from_wire(fields: dict[str, Any]) -> ChatError:
    """The refusal :func:`to_wire` described."""
    if fields.get("kind") == "RateLimited":
        return RateLimited(float(fields.get("retry_after", 1)))
    return ERRORS.get(fields.get("kind", ""), ChatError)(fields["error"])
