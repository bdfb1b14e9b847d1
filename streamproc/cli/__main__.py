"""`python -m streamproc.cli`: the `streamproc` command without its console script."""

from streamproc.cli.app import main

main()
