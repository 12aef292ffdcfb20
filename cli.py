"""The command line, from a checkout: `python cli.py train relu --hidden 128 64`.

The same program as the installed `mlp` command and `python -m numpy_mlp`: its commands live in
numpy_mlp/cli.py (parse, call, render), the network in mlp.py beside this file.
"""

from numpy_mlp.cli import main

if __name__ == "__main__":
    main()
