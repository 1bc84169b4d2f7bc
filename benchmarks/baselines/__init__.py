"""Reference servers the scale suite measures the lab against, beside the lab's own textbook path.

Each module is a deliberately bare server, runnable as
``python -m benchmarks.baselines.<name> --port P --rate R [--seed S]``. It prints
``serving on http://127.0.0.1:P/`` once listening and speaks the lab's wire
format for its transport, so :mod:`benchmarks.scale.swarm` reads it unchanged:

- :mod:`~benchmarks.baselines.floor`: no framework, a ``socket.send()`` loop (WebSocket);
- :mod:`~benchmarks.baselines.constant`: an aiohttp handler with a constant body (short poll).

The textbook servers are not here: the scale suite runs the lab itself as
``python -m lab --plain`` (server ``lab-plain`` in :mod:`benchmarks.scale.cases`),
the transports of ``lab/transports/`` without the engineered path, every transport
and the same bytes on the wire. None of these resumes, buffers for slow consumers
or counts bytes: that is the point of a baseline. They serve loopback only.
"""
