"""``python main.py``: the program from a checkout; see :mod:`harmonizer_cli.program`."""
import sys

from harmonizer_cli.program import main

if __name__ == "__main__":
    sys.exit(main())
