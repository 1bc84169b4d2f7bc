"""``python -m benchmarks.scale``: only calls :func:`benchmarks.scale.cli.main`."""

import sys

from benchmarks.scale.cli import main

if __name__ == "__main__":
    sys.exit(main())
