"""``python -m benchmarks.report reports/<run>``: see :mod:`benchmarks.report.cli`."""

import sys

from benchmarks.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
