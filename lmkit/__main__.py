"""`python -m lmkit ...` (and `torchrun -m lmkit ...`) run the CLI."""
from lmkit.cli import main

main()
