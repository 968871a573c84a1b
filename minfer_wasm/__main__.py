import sys

from .native.cli import main

sys.exit(main())
