"""Moved to :mod:`soundkit.cli.listen` (the ``listen`` and ``background`` commands, ``predict yamnet``
/ ``--events``, ``cv --open-set``); this name stays so that ``from soundkit.listen_cli import ...``
keeps working."""

from soundkit.cli.listen import *  # noqa: F403
from soundkit.cli.listen import __all__  # noqa: F401
