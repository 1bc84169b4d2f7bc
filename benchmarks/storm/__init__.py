"""Safe and steady in a real classroom: a reconnect storm, and a soak with churn.

``python -m benchmarks.storm storm`` (:mod:`~benchmarks.storm.storm`) restarts the lab under
thousands of WebSocket and SSE clients (the crowd processes of :mod:`~benchmarks.storm.crowd`,
on the clients' own reconnect schedule) and measures how the crowd comes back: seconds until
all are back, connection attempts per second over time with and without jitter, and what the
restart cost in messages. ``python -m benchmarks.storm soak`` (:mod:`~benchmarks.storm.soak`)
keeps clients of all five transports arriving and leaving (:mod:`~benchmarks.storm.churn`) and
chat posts at the rate limit, and samples the server's memory and open descriptors. Figures
are pure functions (:mod:`~benchmarks.storm.figures`); results are saved
(:mod:`benchmarks.results.storm`) and reported by :mod:`benchmarks.report.storm_chapter`.
"""
