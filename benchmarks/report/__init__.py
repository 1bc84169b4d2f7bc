"""The report half: charts, tables and prose built from a saved run, never from a live one.

It reads only what a run left in its directory, through :mod:`benchmarks.results`
(the model, the files, the costs), so a report can be rebuilt, or rebuilt with
other prices, without rerunning anything: ``python -m benchmarks.report
reports/<run>`` (:mod:`benchmarks.report.cli`), or :func:`benchmarks.report.build.build`.
Nothing here imports the suites, the scale suite or the lab.

- :mod:`~benchmarks.report.build`: wires one report together and writes it;
- :mod:`~benchmarks.report.tables`, :mod:`~benchmarks.report.tables_groups`: rows
  computed from the run;
- :mod:`~benchmarks.report.narrative`: sentences written from the rows;
- :mod:`~benchmarks.report.render`: Markdown tables and Markdown → HTML;
- :mod:`~benchmarks.report.charts`: matplotlib figures;
- :mod:`~benchmarks.report.anatomy`: the captured bytes of one exchange, taken apart;
- ``scale_*``: the scale suite's chapter (tables, targets, charts, text).
"""
