"""``augment`` (one file through Rubber Band and friends) and ``augment-study`` (cross-validate
augmentation sets per class). The work lives in :mod:`soundkit.augment` and :mod:`soundkit.augment_study`.
"""

from __future__ import annotations

import argparse

from soundkit.cli.common import _Bars, output, output_json

__all__ = ["add_augment", "cmd_augment", "add_augment_study", "cmd_augment_study"]


def add_augment(p: argparse.ArgumentParser) -> None:
    from soundkit import augment

    augment.add_augment_args(p)


def cmd_augment(args: argparse.Namespace) -> int:
    from soundkit import augment

    result, text = augment.run_augment(args)
    output_json(result) if args.json else output(text)
    return 0


def add_augment_study(p: argparse.ArgumentParser) -> None:
    from soundkit import augment_study

    augment_study.add_study_args(p)


def cmd_augment_study(args: argparse.Namespace) -> int:
    from soundkit import augment_study

    bars = _Bars()
    try:
        result, text = augment_study.run_study(args, progress=bars)
    finally:
        bars.close()
    output_json(result) if args.json else output(text)
    return 0
