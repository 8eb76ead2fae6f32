"""``python -m sm_payloads``: the ``sm-payloads`` command line (see `sm_payloads.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
