"""Benchmarks: scenarios as data, a runner that isolates server, relay and clients, a report.

``python -m benchmarks.run`` runs a suite of :mod:`benchmarks.scenarios` and writes
``results.json`` (model: :mod:`benchmarks.results`) and ``samples.csv`` into a report
directory; the report half reads only those files.
"""
