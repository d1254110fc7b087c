"""Run lmkit from a checkout without installing it: `python cli.py train`."""
from lmkit.cli import main

if __name__ == "__main__":
    main()
