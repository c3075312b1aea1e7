"""``python -m ecgshift.cli``: the same entry point as the ``ecgshift`` command."""

from ecgshift.cli import main

main()
