"""``python -m cenas`` runs the command line."""

from __future__ import annotations

from cenas.cli import main

if __name__ == "__main__":
    main()
