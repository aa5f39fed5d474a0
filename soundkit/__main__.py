"""``python -m soundkit`` and the ``soundkit`` command: see :mod:`soundkit.cli`."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Install the Ctrl-C/SIGTERM handling first (:mod:`soundkit.interrupts`), then run the CLI."""
    from soundkit import interrupts

    interrupts.install()  # before anything heavy is imported: from here on a signal is one line
    try:
        from soundkit.cli import main as cli_main

        return cli_main(argv)
    except BaseException:  # a signal before cli.main's own handling (imports, argument parsing)
        if interrupts.received() is not None:
            return interrupts.finish()
        raise


if __name__ == "__main__":
    raise SystemExit(main())
