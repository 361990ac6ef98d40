"""`python -m stacks`: resolve a stack spec, or list what the data knows.

    python -m stacks resolve SPEC [--os linux|windows] [--gpu-cc X.Y] [--channel defaults|conda-forge] [--json]
    python -m stacks list
    python -m stacks lock SPEC [--json] [--update]     python -m stacks check [SPEC ...|--all] [--online]
    python -m stacks driver-branch --pci-id 0xNNNN [--pci-id ...] [--stack SPEC] [--json]
    python -m stacks refresh-driver-table --open-gpu-repo CLONE   (maintainers: re-reads NVIDIA's lists)

Errors (unknown, inconsistent or unsupported input, broken data): exit status 2 and one line on
stderr, `stacks: <message>`, no traceback. argparse's own usage errors also exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import cli_locks, knowledge
from .errors import StackError
from .resolve import CHANNELS, OSES, resolve

# The summary shows these first, in this order; list-valued keys are joined.
SUMMARY_KEYS = (
    "name", "os", "tensorflow", "tensorflow_package", "python", "cudatoolkit", "cudnn", "cuda_from",
    "min_driver", "min_driver_os_table", "compute_capabilities", "max_compute_capability",
    "conda_env", "pip", "pip_constraints", "libraries",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stacks", description="Resolve GPU deep-learning stacks.")
    commands = parser.add_subparsers(dest="command", required=True)
    res = commands.add_parser("resolve", help="print the resolved desired state of SPEC")
    res.add_argument("spec", help="a stack name (tf21) or tensorflow==X.Y.Z[.postN]")
    res.add_argument("--os", choices=OSES, default="linux")
    res.add_argument("--gpu-cc", metavar="X.Y", help="the GPU's compute capability; refused when the stack cannot run it")
    res.add_argument("--channel", choices=CHANNELS, default="defaults")
    res.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    commands.add_parser("list", help="stack names and the TensorFlow releases known")
    cli_locks.add_parsers(commands)
    _add_driver_branch(commands)
    # The maintainer tool parses its own options (stacks/refresh_driver_table.py).
    commands.add_parser("refresh-driver-table", add_help=False, help="rebuild NVIDIA's chip table (network)")
    return parser


def _add_driver_branch(commands) -> None:
    branch = commands.add_parser("driver-branch", help="the NVIDIA driver branch for these GPUs (and stack)")
    branch.add_argument("--pci-id", action="append", required=True, metavar="0xNNNN",
                        help="an NVIDIA PCI device id (lspci -nn: [10de:NNNN]); repeat for every GPU of the host")
    branch.add_argument("--stack", metavar="SPEC", help="a stack the GPUs must run (tf21, tensorflow==X.Y.Z)")
    branch.add_argument("--json", action="store_true", help="print JSON instead of a summary")


def _driver_branch(args) -> str:
    """Run `driver-branch`; returns what to print (StackError propagates to main)."""
    from .driver_branch import choose

    choice = choose(args.pci_id, stack=args.stack)
    if args.json:
        return json.dumps(choice.as_dict(), indent=2)
    lines = [f"branch      {choice.branch}", f"candidates  {', '.join(choice.candidates)}", f"reason      {choice.reason}"]
    for gpu in choice.gpus:
        cc = gpu["compute_capability"] or "unknown"
        legacy = f", legacy branch {gpu['legacy']}" if gpu["legacy"] else ""
        lines.append(f"gpu         {gpu['pci_id']} {gpu['name']} (compute capability {cc}): "
                     f"branches {', '.join(gpu['branches'])}{legacy}")
    return "\n".join(lines)


def summary(stack: dict) -> str:
    """A readable, aligned summary of a resolved stack."""
    width = max(map(len, SUMMARY_KEYS))
    lines = []
    for key in SUMMARY_KEYS:
        value = stack[key]
        if isinstance(value, list):
            value = ", ".join(value) if value else "-"
        lines.append(f"{key.ljust(width)}  {value}")
    lines.append(f"{'conda'.ljust(width)}  {' '.join(entry['spec'] for entry in stack['conda'])}")
    for pin in stack["pins"]:
        lines.append(f"{'pin'.ljust(width)}  {pin['requirement']}: {pin['reason']}")
    lock = stack["lock"]
    lines.append(f"{'lock'.ljust(width)}  " + (f"{lock['file']} ({lock['packages']} packages, CPython {lock['python']})"
                                               if lock else stack["sources"]["lock"]))
    for note in stack["notes"]:
        lines.append(f"{'note'.ljust(width)}  {note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["refresh-driver-table"]:
        from .refresh_driver_table import main as refresh

        return refresh(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "driver-branch":
            text = _driver_branch(args)
            try:
                print(text)
            except BrokenPipeError:
                sys.stderr.close()
            return 0
        if args.command in ("lock", "check"):
            status, text = cli_locks.run(args)
            try:
                print(text)
            except BrokenPipeError:
                sys.stderr.close()
            return status
        if args.command == "list":
            print("stacks:     " + ", ".join(knowledge.stack_names()))
            for os in OSES:
                print(f"tensorflow ({os}): " + ", ".join(knowledge.known_releases(os)))
            return 0
        stack = resolve(args.spec, os=args.os, gpu_cc=args.gpu_cc, channel=args.channel)
    except StackError as error:
        print(f"stacks: {error}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(stack, indent=2) if args.json else summary(stack))
    except BrokenPipeError:
        # `python -m stacks resolve tf21 --json | head`: the reader left; not an error of ours.
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
