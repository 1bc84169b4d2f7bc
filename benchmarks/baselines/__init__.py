"""Reference servers the scale suite measures the lab against.

Each module is a deliberately plain server for one transport, runnable as
``python -m benchmarks.baselines.<name> --port P --rate R [--seed S]``. It prints
``serving on http://127.0.0.1:P/`` once listening and speaks the lab's wire
format for its transport, so :mod:`benchmarks.scale.swarm` reads it unchanged:

- :mod:`~benchmarks.baselines.floor`: no framework, a ``socket.send()`` loop (WebSocket);
- :mod:`~benchmarks.baselines.plain_ws`: textbook aiohttp WebSocket loop;
- :mod:`~benchmarks.baselines.plain_sse`: textbook aiohttp SSE loop;
- :mod:`~benchmarks.baselines.plain_longpoll`: textbook aiohttp long poll;
- :mod:`~benchmarks.baselines.constant`: an aiohttp handler with a constant body.

None of them resumes, buffers for slow consumers or counts bytes: that is the
point of a baseline. They serve loopback only.
"""
