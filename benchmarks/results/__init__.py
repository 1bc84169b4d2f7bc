"""What a run leaves behind, and the one way to read it: the results model and its files.

Both suites write a run directory through this package and the report reads it
back through it; nothing here measures, and nothing here draws or formats.

- :mod:`~benchmarks.results.model`: results.json as frozen dataclasses, validated
  against the schema;
- :mod:`~benchmarks.results.files`: reading and writing results.json, appending
  samples.csv and staleness.csv;
- :mod:`~benchmarks.results.rundata`: a saved run as the report reads it;
- :mod:`~benchmarks.results.costs`: the economics of freshness (prices, volatility);
- :mod:`~benchmarks.results.scale_verdicts`: how a scale-suite scenario is judged;
- :mod:`~benchmarks.results.transports`: the transports' names, from :mod:`lab.contract`.
"""
