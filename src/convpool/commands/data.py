"""`convpool data`: the data sets convpool can download, and where they are; and their download
from the official addresses, checksums verified, resumed where a download stopped, and never
fetched again once present."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "data"
HELP = "list the downloadable data sets and where they are, or download one (verified, resumable)"
ORDER = 10
EPILOG = ("examples:\n  convpool data list\n  convpool data download cifar10\n"
          "  convpool data download all --dir /data/convpool\n\n"
          "environment:\n"
          "  CONVPOOL_CACHE            the cache root (default ~/.cache/convpool); each set goes in a\n"
          "                            folder named after it\n"
          "  CONVPOOL_DOWNLOAD_MIRROR  a base URL to fetch MIRROR/NAME/FILE from instead of the official\n"
          "                            addresses; the published checksums are still verified")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="a table of the data sets: what, size, licence, status and where")
    get = actions.add_parser("download", help="download a data set (or all) into its cache folder")
    get.add_argument("name", metavar="NAME", help="fashion-mnist, cifar10, cifar100, fsdd, or all")
    get.add_argument("--dir", type=Path, help="put the files in DIR instead of the cache folder (with all: DIR/NAME)")
    get.add_argument("--format", choices=("python", "binary"),
                     help="CIFAR only: which official archive (default python)")
    get.add_argument("--mirror", metavar="URL", help="fetch URL/NAME/FILE instead (default $CONVPOOL_DOWNLOAD_MIRROR)")
    get.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")


def run(args: argparse.Namespace) -> int:
    """`list` prints the table; `download` fetches and reports each file."""
    return _list() if args.action == "list" else _download(args)


def _list() -> int:
    from ..data import catalog
    from ..data.download import cache_root

    header = ("NAME", "WHAT", "SIZE", "LICENCE", "STATUS", "WHERE")
    rows = [header]
    for ds in catalog.CATALOG.values():
        st = catalog.status(ds.name)
        state = st.state + (f" ({st.format})" if st.state == "present" and len(ds.formats) > 1 else "")
        state += f" ({st.detail})" if st.detail else ""
        rows.append((ds.name, ds.what, ds.size, ds.licence, state, str(st.folder)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"\ncache root: {cache_root()} (CONVPOOL_CACHE moves it). "
          f"Get one with: convpool data download NAME (or all)")
    return 0


def _download(args: argparse.Namespace) -> int:
    from ..data import catalog
    from ..data.download import DownloadError

    if args.name != "all" and args.name not in catalog.CATALOG:
        raise ValueError(f"unknown data set {args.name!r}; the names are: {', '.join(catalog.names())}, all")
    names = catalog.names() if args.name == "all" else [args.name]
    for name in names:
        ds = catalog.get(name)
        folder = None if args.dir is None else (args.dir / name if args.name == "all" else args.dir)
        fmt = args.format if args.format in ds.formats else None
        if args.format is not None and fmt is None and args.name != "all":
            raise ValueError(f"--format {args.format}: {name} has a single format; --format is for CIFAR")

        def report(file, path, outcome, name=name):
            if outcome == "present":
                print(f"{name}: {file.name} is already present and verified ({file.checksum.what}); not downloaded")
            elif outcome.startswith("unpacked"):
                print(f"{name}: {outcome} into {path}")
            else:
                print(f"{name}: {file.name} {outcome} and verified ({file.checksum.what})")

        try:
            where = catalog.download_dataset(name, folder, format=fmt, mirror=args.mirror,
                                             progress=False if args.no_progress else None, on_file=report)
        except KeyboardInterrupt:
            target = ds.folder() if folder is None else folder
            raise KeyboardInterrupt(f"the bytes fetched so far are kept as .part files in {target}; the same "
                                    f"command resumes the download") from None
        except DownloadError as error:
            target = ds.folder() if folder is None else folder
            files = ", ".join(f.name for f in ds.files_for(fmt))
            raise DownloadError(f"{error}. Without a connection: get {files} elsewhere and either copy it all into "
                                f"{target} (this command then verifies them) or pass their folder as --data-dir") \
                from error
        print(f"{name}: ready in {where}" + (f" ({ds.note})" if ds.note else ""))
    return 0
