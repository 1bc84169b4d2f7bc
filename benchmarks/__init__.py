"""Benchmarks: scenarios as data, runners that keep server, relay and clients apart, a report.

- :mod:`benchmarks.suite`: the standard suites (``python -m benchmarks.run``);
- :mod:`benchmarks.scale`: the scale suite (``python -m benchmarks.scale``), with
  the reference servers of :mod:`benchmarks.baselines`;
- :mod:`benchmarks.results`: what a run writes (``results.json``, ``samples.csv``)
  and how it is read back;
- :mod:`benchmarks.report`: charts and report from those files alone
  (``python -m benchmarks.report reports/<run>``).

Both runners write through :mod:`benchmarks.results`; the report imports nothing
else of the benchmarks, so a report can be rebuilt without rerunning.
"""
