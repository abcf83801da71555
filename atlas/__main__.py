"""``python -m atlas`` runs the ``atlas`` command."""

from .cli import main

main(prog_name="atlas")
