"""The ``broker`` group: what sharing one feed through Redis costs, beside one machine's ways.

``python -m benchmarks.broker`` runs WebSocket subscribers against one process,
``--workers 2`` and two ``--broker`` nodes on Redis (:mod:`benchmarks.broker.run`),
then the failover case (:mod:`benchmarks.broker.failover`), and writes
``<out>/broker.json``; the chapter "Past one machine" is written from that file
alone (:mod:`benchmarks.report.broker_chapter`), so it can be rebuilt without rerunning.
"""
