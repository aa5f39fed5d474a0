"""Getting data in: ``download`` (ESC-10/ESC-50), ``import`` (a dataset directory or zip into the label
store) and ``featurize`` (decode every clip once into feature shards). The work lives in
:mod:`soundkit.datasets`, :mod:`soundkit.store` and :mod:`soundkit.scale`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from soundkit.cli.common import _Bars, output, output_json

__all__ = ["add_download", "cmd_download", "add_import", "cmd_import", "add_featurize", "cmd_featurize"]

log = logging.getLogger("soundkit.cli")


# -- download, import (the work lives in soundkit.datasets and soundkit.store) -----------------------

def add_download(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", choices=("esc10", "esc50"), help="esc10 (about 40 MB) or esc50 (about 600 MB)")
    p.add_argument("--dir", metavar="DIR", help="folder that receives the dataset (default: $SOUNDKIT_HOME/datasets)")
    p.add_argument("--url", metavar="URL_OR_PATH", help="fetch the zip from here instead (http(s), file:// or a local path)")
    p.add_argument("--force", action="store_true", help="download again even when the dataset is there")
    p.add_argument("--json", action="store_true", help='print {"name", "path", "clips", "labels", "folds"}')


def cmd_download(args: argparse.Namespace) -> int:
    from soundkit import datasets

    bars = _Bars()
    try:
        root = datasets.download(args.name, dest=args.dir, url=args.url, force=args.force, progress=bars)
    finally:
        bars.close()
    ds = datasets.load(root)
    result = {"name": args.name, "path": str(root), "clips": len(ds.clips), "labels": ds.labels, "folds": ds.folds}
    output_json(result) if args.json else output(f"{root}: {len(ds.clips)} clips, {len(ds.labels)} labels")
    return 0


def add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="DATASET_OR_ZIP", help="a dataset directory or a zip (folder per class, ESC-50, store export)")
    p.add_argument("--home", metavar="DIR", help="data directory holding the store (default: $SOUNDKIT_HOME)")
    p.add_argument("--esc10", action="store_true", help="from an ESC-50 release, import only the ESC-10 subset")
    p.add_argument("--json", action="store_true", help='print {"added", "duplicates", "errors", "skipped", "labels"}')


def cmd_import(args: argparse.Namespace) -> int:
    import zipfile

    from soundkit import config as cfg
    from soundkit import datasets
    from soundkit.errors import DatasetError
    from soundkit.store import Store

    source = Path(args.source)
    if not source.exists():
        raise DatasetError(f"{source}: no such file or directory")
    is_zip = source.is_file() and zipfile.is_zipfile(source)
    if source.is_file() and not is_zip:
        raise DatasetError(f"{source}: is neither a dataset directory nor a zip file")
    from soundkit.regions import find_annotations

    annotated = not is_zip and find_annotations(source) is not None  # recordings + a DCASE regions file
    dataset = None if is_zip or annotated else datasets.load(source, esc10=args.esc10)  # checks first, before the store
    store = Store(args.home or cfg.home())
    bars = _Bars()
    try:  # SIGTERM/Ctrl-C unwind through here (soundkit.interrupts): temporary files go, the transaction rolls back
        if annotated:
            result = store.import_annotated(source, progress=bars)
        else:
            result = store.import_zip(source, esc10=args.esc10, progress=bars) if is_zip else store.import_dataset(dataset, progress=bars)
    finally:
        bars.close()
    summary = {k: v for k, v in result.to_dict().items() if k != "ids"}
    summary.update(home=str(store.home), labels=store.labels())
    if args.json:
        output_json(summary)
    else:
        there = result.existing_summary() or "0 already there"
        regions = f", {result.regions} regions" if result.regions else ""
        output(f"{store.home}: {result.added} added, {there}, {len(result.errors)} failed{regions}")
        for name, message in result.errors:
            log.warning("%s: %s", name, message)
    if result.errors and not result.added and not result.duplicates:
        raise DatasetError(f"{source}: nothing could be imported ({result.errors[0][1]})")
    return 0


# -- featurize (the work lives in soundkit.scale) -----------------------------------------------------

def add_featurize(p: argparse.ArgumentParser) -> None:
    from soundkit.scale.cli import add_featurize as add

    add(p)


def cmd_featurize(args: argparse.Namespace) -> int:
    from soundkit.scale.cli import run_featurize

    bars = _Bars()
    try:
        result, text = run_featurize(args, progress=bars)
    finally:
        bars.close()
    output_json(result) if args.json else output(text)
    return 0
