"""``python -m clients``: the terminal trader (see ``clients.cli``)."""

from .cli import main

raise SystemExit(main())
