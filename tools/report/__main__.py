"""python -m tools.report INVENTORY [--json] [--deploy deploys/tf21.py] [--data KEY=VALUE ...]

Read-only: reads each host's facts and dry-runs the deploy to list what it would change.
Exit status: 0 when every host is converged (no drift, last verification ok), 1 otherwise,
2 on bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

# --data values mean what they mean to `pyinfra --data` (true/false, ints, JSON, else a string);
# pyinfra exposes that parser only in its CLI package.
from pyinfra_cli.util import parse_cli_arg

from tools.report.collect import collect
from tools.report.render import as_json, as_table


# The project's own deploy, found from this file in a checkout and in an installed gpuws alike.
_TF21 = Path(__file__).resolve().parents[2] / "deploys" / "tf21.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.report", description=__doc__.splitlines()[0])
    parser.add_argument("inventory", help="a pyinfra inventory file, e.g. inventories/lab.py or inventories/sim.py")
    parser.add_argument("--json", action="store_true", help="JSON for machines instead of the table")
    parser.add_argument("--deploy", default=str(_TF21), help="the deploy whose drift to report (default: this project's deploys/tf21.py)")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE", help="data override, as pyinfra's --data")
    args = parser.parse_args(argv)

    # pyinfra would take a missing file's name for a host name and report a fleet of nothing
    inventory = Path(args.inventory)
    if (args.inventory.endswith((".py", ".yaml", ".yml")) or "/" in args.inventory) and not inventory.is_file():
        what = "is a folder, not an inventory file" if inventory.is_dir() else "not found"
        print(f"report: inventory {args.inventory} {what}: give a pyinfra inventory file, e.g. inventories/lab.py",
              file=sys.stderr)
        return 2
    if not Path(args.deploy).is_file():
        print(f"report: deploy {args.deploy} not found", file=sys.stderr)
        return 2
    data = {}
    for item in args.data:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"report: --data {item!r} must be KEY=VALUE", file=sys.stderr)
            return 2
        data[key] = parse_cli_arg(value)

    # pyinfra logs every connection and operation; the report is the output.
    logging.getLogger("pyinfra").setLevel(logging.CRITICAL)
    try:
        reports = collect(args.inventory, deploy=args.deploy, data=data)
    except PyinfraError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(as_json(reports) if args.json else as_table(reports))
    return 0 if reports and all(r.converged for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
