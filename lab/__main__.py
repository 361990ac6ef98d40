"""``python -m lab``: build, start, inspect and stop the simulated lab (needs root)."""

import argparse
import json
import os
import subprocess
import sys

from . import control, network
from .paths import REPO_ROOT, LabPaths
from .spec import SpecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the lab's parts (cached; rebuilt when inputs change)")
    build.add_argument("--only", nargs="*", help="build only these parts")
    up = commands.add_parser("up", help="start the hosts of a spec (takes a running lab down first)")
    up.add_argument("spec", help="host spec YAML, e.g. lab/specs/small.yaml")
    up.add_argument("--no-build", action="store_true", help="do not build missing or stale parts first")
    reset = commands.add_parser("reset", help="kill a host, drop its disk, start it fresh from the spec")
    reset.add_argument("host")
    commands.add_parser("down", help="stop everything: no process, namespace or mount left")
    status = commands.add_parser("status", help="show the running hosts")
    status.add_argument("--json", action="store_true")
    exec_ = commands.add_parser("exec", help="run a command inside a host, without ssh")
    exec_.add_argument("host")
    exec_.add_argument("cmd", nargs=argparse.REMAINDER)
    run = commands.add_parser("run", help="run a command inside the controller namespace (e.g. pyinfra)")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    commands.add_parser("inventory", help="print the path of the pyinfra inventory of the running lab")
    args = parser.parse_args(argv)

    if os.geteuid() != 0 and args.command != "inventory":
        print("lab: needs root (network namespaces, overlay mounts, chroot)", file=sys.stderr)
        return 2
    paths = LabPaths.default()
    try:
        if args.command == "build":
            from .image import build_all
            build_all(paths, only=args.only)
        elif args.command == "up":
            if not args.no_build:
                from .image import build_all
                build_all(paths)
            control.up(args.spec, paths)
        elif args.command == "reset":
            control.reset(args.host, paths)
        elif args.command == "down":
            control.down(paths)
        elif args.command == "status":
            rows = control.status(paths)
            if args.json:
                print(json.dumps(rows, indent=2))
            for row in [] if args.json else rows:
                print(f"{row['name']:<16} {row['address']:<13} {row['state']:<24} "
                      f"driver={row['driver'] or 'none':<11} {', '.join(row['gpus']) or 'no GPU'}")
        elif args.command == "exec":
            command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return control.exec_in_host(args.host, command or ["bash", "-l"], paths).returncode
        elif args.command == "run":
            command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not command:
                parser.error("run needs a command, e.g. python -m lab run -- pyinfra ...")
            control.require_running(paths)
            return subprocess.run(network.in_controller(command)).returncode
        elif args.command == "inventory":
            print(os.path.relpath(REPO_ROOT / "inventories" / "sim.py"))
    except SpecError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
