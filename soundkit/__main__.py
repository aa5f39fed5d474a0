"""``python -m soundkit``: see :mod:`soundkit.cli`."""

from soundkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
