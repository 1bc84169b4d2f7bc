"""The chat room of the original exercise, in three parts.

- :mod:`lab.chat.room` — the room: identities (a name and a token), presence,
  post limits; the :class:`~lab.chat.room.ChatService` protocol the transports use;
- :mod:`lab.chat.errors` — what the room refuses, each with its HTTP status;
- :mod:`lab.chat.http` — the HTTP endpoints (join, post, leave) and how a
  transport's connection keeps an identity present (``?token=``).
"""
