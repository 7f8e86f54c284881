"""`slicer-bridge dicom …`: import folders into the DICOM store, remove from it, describe it.

Registered by `bridge.cli` through `add_dicom_commands(subparsers)`. The store is the one the
server uses: `<data dir>/dicom`, the data dir coming from `--data-dir`, else the settings
(defaults < TOML file < environment, as for `serve`).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from bridge.dicom import store_path


def add_dicom_commands(subparsers: argparse._SubParsersAction) -> None:
    dicom = subparsers.add_parser(
        "dicom",
        help="manage the DICOM store served at /dicom",
        description="Manage the DICOM store that the server's DICOMweb surface (/dicom) serves.",
    )
    commands = dicom.add_subparsers(dest="dicom_command", metavar="ACTION", required=True)

    importing = commands.add_parser(
        "import",
        help="index DICOM files (folders are searched recursively)",
        description="Index every DICOM file under the given files and folders (recursively). "
        "Files that are not DICOM, or are broken, are skipped with a reason each; instances "
        "already in the store (same SOP Instance UID) are skipped as duplicates. Headers are "
        "read on every core.",
    )
    importing.add_argument("paths", nargs="+", type=Path, metavar="FOLDER")
    importing.add_argument(
        "--copy",
        action="store_true",
        help="copy the files into the store (default: index them where they are)",
    )
    importing.add_argument("--workers", type=int, default=None, help="processes reading headers")
    importing.add_argument("--quiet", action="store_true", help="no progress bar")
    _common(importing)
    importing.set_defaults(run=_import)

    removing = commands.add_parser(
        "remove",
        help="remove a study, series or instance from the store",
        description="Remove a study, one of its series, or one instance from the index; files "
        "the store owns (received by STOW-RS or imported with --copy) are deleted too.",
    )
    removing.add_argument("study", metavar="STUDY_UID")
    removing.add_argument("series", nargs="?", metavar="SERIES_UID")
    removing.add_argument("instance", nargs="?", metavar="SOP_INSTANCE_UID")
    _common(removing)
    removing.set_defaults(run=_remove)

    info = commands.add_parser("info", help="where the store is and what it holds")
    _common(info)
    info.set_defaults(run=_info)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="the bridge's data folder")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file")


def _store(arguments: argparse.Namespace):
    from bridge.config import ConfigError, load_settings
    from bridge.dicom.sqlite_store import SqliteStore

    data_dir = arguments.data_dir
    if data_dir is None:
        try:
            data_dir = load_settings(config_file=arguments.config).data_dir
        except ConfigError as error:
            print(f"slicer-bridge: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    return SqliteStore(store_path(data_dir))


def _import(arguments: argparse.Namespace) -> int:
    from bridge.dicom.importer import ProgressBar, import_paths

    store = _store(arguments)
    try:
        progress = None if arguments.quiet else ProgressBar()
        report = import_paths(
            store,
            arguments.paths,
            copy=arguments.copy,
            workers=arguments.workers,
            progress=progress,
        )
        counts = store.counts()
    finally:
        store.close()
    rate = report.added / report.seconds if report.seconds else 0.0
    print(
        f"imported {report.added} instance(s) of {len(report.studies)} study(ies) from "
        f"{report.files} file(s) in {report.seconds:.1f} s ({rate:.0f} instances/s); "
        f"{report.duplicates} duplicate(s), {len(report.skipped)} skipped"
    )
    for skipped in report.skipped:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    if report.skipped:
        reasons = Counter(_reason_kind(s.reason) for s in report.skipped)
        print("skipped by reason: " + ", ".join(f"{n} {r}" for r, n in reasons.most_common()))
    print(
        f"store {store.root}: {counts['patients']} patient(s), {counts['studies']} "
        f"study(ies), {counts['series']} series, {counts['instances']} instance(s)"
    )
    missing = any(s.reason == "no such file or folder" for s in report.skipped)
    return 1 if missing else 0


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0].split(" (", 1)[0]


def _remove(arguments: argparse.Namespace) -> int:
    from bridge.dicom.types import NotFound

    store = _store(arguments)
    try:
        removed = store.remove(arguments.study, arguments.series, arguments.instance)
    except NotFound as error:
        print(f"slicer-bridge: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"removed {removed} instance(s)")
    return 0


def _info(arguments: argparse.Namespace) -> int:
    store = _store(arguments)
    try:
        counts = store.counts()
    finally:
        store.close()
    print(f"store: {store.root}")
    for name, count in counts.items():
        print(f"  {name}: {count}")
    return 0
