"""The standard suites' runner: scenarios as data, each run with its processes kept apart.

``python -m benchmarks.run`` picks scenarios from :mod:`~benchmarks.suite.scenarios`
and runs them (:mod:`~benchmarks.suite.runner`), each through
:mod:`~benchmarks.suite.harness`: the lab in one process, the clients in
load-generator processes (:mod:`~benchmarks.suite.loadgen`), the relay in the
runner's own. Process management (:mod:`~benchmarks.suite.children`), the
/proc readings (:mod:`~benchmarks.suite.procstats`) and the arithmetic that turns
readings into figures (:mod:`~benchmarks.suite.measure`) serve the scale suite
too. What a run leaves is written through :mod:`benchmarks.results`; nothing here
draws or writes a report.
"""
