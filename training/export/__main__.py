"""``python -m training.export``: see :mod:`training.export.cli`."""

from training.export.cli import main

raise SystemExit(main())
