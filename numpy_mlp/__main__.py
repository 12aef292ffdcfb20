"""`python -m numpy_mlp ...`: the same command line as `mlp ...` and `python cli.py ...`."""

from numpy_mlp.cli import main

main()
