"""``python -m ganforge`` (also what ``torchrun -m ganforge`` runs)."""
import sys

from .cli import main

sys.exit(main())
