"""The scale suite: thousands of clients per server, the lab textbook and engineered, and a floor.

``python -m benchmarks.scale`` (:mod:`~benchmarks.scale.cli`) runs the fixed
cases of :mod:`~benchmarks.scale.cases` and then a breaking-point search
(:mod:`~benchmarks.scale.search`); each case (:mod:`~benchmarks.scale.runner`)
starts one server and lean load-generator processes, the swarms
(:mod:`~benchmarks.scale.swarm`), and turns their reports and the server's /proc
readings into a scenario (:mod:`~benchmarks.scale.figures`), recorded in the run
directory as it ends (:mod:`~benchmarks.scale.output`). The lab is measured
both ways it serves (``python -m lab --plain`` and ``python -m lab``), beside
the floor and the constant handler of :mod:`benchmarks.baselines`. ``python -m
benchmarks.scale.paired`` (:mod:`~benchmarks.scale.paired`) runs the lab's case
for two versions of the lab, alternating, to check that a change keeps the
figures within noise. It does not judge its scenarios (that is
:mod:`benchmarks.results.scale_verdicts`, shared with the report) nor draw them.
"""
