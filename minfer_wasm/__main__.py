"""`python -m minfer_wasm ...`: the `minfer-wasm` command line (minfer_wasm/native/cli.py)."""

import sys

from .native.cli import main

sys.exit(main())
