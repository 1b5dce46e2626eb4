"""``python -m harmonizer_cli``: how the app starts the trainer, and a way in without installing."""
import sys

from harmonizer_cli.program import main

sys.exit(main(prog="python -m harmonizer_cli"))
