"""`python -m sensorium.tools.icons.train` — see cli.py."""

from .cli import main

raise SystemExit(main())
