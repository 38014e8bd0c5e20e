"""``python -m forewarn`` is the ``forewarn`` command (used to start children with this interpreter)."""

from forewarn.cli import app

if __name__ == "__main__":
    app()
