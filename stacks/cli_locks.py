"""`python -m stacks lock` and `python -m stacks check`: the locks and the installability of every row.

    python -m stacks lock SPEC [--json]                 the committed lock (offline)
    python -m stacks lock SPEC|--all --update [--jobs N]  resolve against PyPI, write stacks/locks/
    python -m stacks check [SPEC ...|--all] [--online] [--jobs N] [--json]

`check` prints one line per row: installable (with its lock) or refused (with its reason); exit 0
when every row is one of those, 1 when a lock is missing or stale (or, --online, when this machine
has no CPython of a row's python: "unchecked", saying which to install). --online re-resolves each lock
against PyPI (pip in hash-checking mode, under the row's CPython).
"""

from __future__ import annotations

import concurrent.futures
import json

from . import installable
from .errors import StackError

DEFAULT_JOBS = 4  # pip runs are network- and hash-bound; 4 at once suits a 2-core controller


def add_parsers(commands) -> None:
    """Add the `lock` and `check` subcommands to the CLI's subparsers."""
    lock = commands.add_parser("lock", help="print (or --update) the committed pip lock of SPEC")
    lock.add_argument("spec", nargs="?", help="a stack name (tf21) or tensorflow==X.Y.Z")
    lock.add_argument("--all", action="store_true", help="every stack row (with --update)")
    lock.add_argument("--update", action="store_true", help="resolve against PyPI and write stacks/locks/ (network)")
    lock.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="rows resolved at once (--all)")
    lock.add_argument("--json", action="store_true", help="print JSON")
    check = commands.add_parser("check", help="whether each stack row is installable, with its lock")
    check.add_argument("specs", nargs="*", metavar="SPEC")
    check.add_argument("--all", action="store_true", help="every stack row")
    check.add_argument("--online", action="store_true", help="re-resolve each lock against PyPI (network)")
    check.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="rows checked at once (--online)")
    check.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> tuple[int, str]:
    """Run `lock` or `check` -> (exit status, text to print). StackError propagates (exit 2)."""
    if args.jobs < 1:
        raise StackError(f"--jobs {args.jobs}: give 1 or more")
    if args.command == "lock":
        return _lock(args)
    specs = installable.rows() if args.all else args.specs
    if not specs:
        raise StackError("check: name one or more SPECs, or give --all")
    judge = installable.verify_row if args.online else installable.check_row
    verdicts = _map(judge, specs, args.jobs if args.online else 1)
    bad = [v for v in verdicts if v["status"] not in ("installable", "refused")]
    if args.json:
        return (1 if bad else 0), json.dumps(verdicts, indent=2)
    width = max(len(v["spec"]) for v in verdicts)
    lines = [f"{v['spec'].ljust(width)}  {v['status']:<11}  {v['lock'] or '-'}  {v['reason']}" for v in verdicts]
    return (1 if bad else 0), "\n".join(lines)


def _lock(args) -> tuple[int, str]:
    if args.all and not args.update:
        raise StackError("lock --all: add --update to re-resolve every row against PyPI")
    if not args.all and not args.spec:
        raise StackError("lock: name a SPEC (tf21, tensorflow==X.Y.Z) or give --all --update")
    if not args.update:
        lock = installable.lock_for(args.spec)
        if args.json:
            return 0, json.dumps(lock, indent=2)
        return 0, "\n".join([f"python    {lock['python']} ({lock['platform']}, pip {lock['pip']}, {lock['date']})",
                             *(f"{name.ljust(28)}  {version}" for name, version in lock["packages"].items())])
    specs = installable.rows() if args.all else [args.spec]
    results = _map(_update_one, specs, args.jobs)
    failed = [r for r in results if not r.startswith("locked")]
    return (1 if failed else 0), "\n".join(results)


def _update_one(spec: str) -> str:
    """Make and write one row's lock; a refused row is reported, not fatal for --all."""
    try:
        stack, lock = installable.lock_row(spec)
    except StackError as error:
        return f"refused  {spec}: {error}"
    path = installable.locks.write_lock(stack, lock)
    return f"locked   {spec}: {len(lock['packages'])} packages for CPython {lock['python']} -> stacks/locks/{path.name}"


def _map(function, specs: list[str], jobs: int) -> list:
    if jobs == 1 or len(specs) == 1:
        return [function(spec) for spec in specs]
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(function, specs))
