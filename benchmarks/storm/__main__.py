"""``python -m benchmarks.storm``: only calls :func:`benchmarks.storm.cli.main`."""

import sys

from benchmarks.storm.cli import main

if __name__ == "__main__":
    sys.exit(main())
