"""``python -m dlcore.bench``: see :mod:`dlcore.bench`."""

from .cli import main

raise SystemExit(main())
