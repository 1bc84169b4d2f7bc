"""A client's life as data: its states, the events that move it, and the table of moves.

In the manner of h11: ``TRANSITIONS[state][event]`` is the next state, and an event a state
does not list is a bug in the client, raised at once (:meth:`clients.base.BaseClient._fire`).
"""

from __future__ import annotations

from enum import Enum, auto


class State(Enum):
    """Where a client is in its life."""

    CONNECTING = auto()
    OPEN = auto()
    RECONNECTING = auto()
    CLOSED = auto()


class Event(Enum):
    """What can happen to a client."""

    CONNECTED = auto()
    DROPPED = auto()
    FAILED = auto()
    CLOSE = auto()


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.CONNECTING: {
        Event.CONNECTED: State.OPEN,
        Event.FAILED: State.CLOSED,
        Event.CLOSE: State.CLOSED,
    },
    State.OPEN: {
        Event.CONNECTED: State.OPEN,
        Event.DROPPED: State.RECONNECTING,
        Event.FAILED: State.CLOSED,
        Event.CLOSE: State.CLOSED,
    },
    State.RECONNECTING: {
        Event.CONNECTED: State.OPEN,
        Event.DROPPED: State.RECONNECTING,
        Event.FAILED: State.CLOSED,
        Event.CLOSE: State.CLOSED,
    },
    State.CLOSED: {Event.CLOSE: State.CLOSED},
}
