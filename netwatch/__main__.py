"""`python -m netwatch` is the `netwatch` command."""

import sys

from netwatch.cli import main

sys.exit(main())
