"""python -m tools.bundle: build a checksummed offline bundle of a stack, or verify one.

    python -m tools.bundle SPEC --platform linux-64 --out DIR [--channel URL ...]
        [--index-url URL] [--miniconda-url URL --miniconda-sha256 HEX | --miniconda-file PATH]
        [--python PY37] [--stack-file JSON] [--refresh]
    python -m tools.bundle verify DIR

Exit status: 0 done, 2 bad input or unreachable source (one line on stderr), 1 verify found
problems.
"""

import argparse
import importlib.util
import json
import sys

from deploys import bundle_manifest as manifest
from deploys.bundle_manifest import BundleError

from . import build


def parser():
    p = argparse.ArgumentParser(prog="python -m tools.bundle",
                                description="Build a checksummed offline bundle (conda channel, wheelhouse, "
                                            "Miniconda installer) for a stack, once for a whole lab.")
    p.add_argument("spec", nargs="?", help="stack name (tf21) or tensorflow==X.Y.Z; optional with --stack-file")
    p.add_argument("--platform", default="linux-64", help="conda subdir of the target hosts (default linux-64)")
    p.add_argument("--out", required=True, help="bundle directory (new, empty, or an earlier bundle to resume)")
    p.add_argument("--channel", action="append", default=[], metavar="URL",
                   help="upstream conda channel URL, repeatable (default: the stack's channel data)")
    p.add_argument("--channel-name", default="defaults", help="channel data name for stacks.resolve (defaults)")
    p.add_argument("--index-url", help="simple index for wheels (default https://pypi.org/simple)")
    p.add_argument("--miniconda-url", help="installer URL (needs --miniconda-sha256)")
    p.add_argument("--miniconda-sha256", metavar="HEX", help="sha256 of the installer")
    p.add_argument("--miniconda-file", metavar="PATH", help="installer already on this machine")
    p.add_argument("--python", metavar="PY", help="target CPython (e.g. python3.7) to build sdist-only wheels")
    p.add_argument("--stack-file", metavar="JSON", help="a resolved stack dict (as stacks.resolve returns)")
    p.add_argument("--refresh", action="store_true", help="solve and resolve again even if a plan exists")
    return p


def human(count):
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000


def verify_main(argv):
    if len(argv) != 1:
        print("usage: python -m tools.bundle verify DIR", file=sys.stderr)
        return 2
    problems = manifest.verify(argv[0])
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        data = manifest.load(argv[0])
        print(f"{argv[0]}: {data['totals']['files']} files verified, {human(data['totals']['bytes'])}")
    return 1 if problems else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["verify"]:
        return verify_main(argv[1:])
    args = parser().parse_args(argv)
    if args.platform.startswith("win-"):
        # the deploy targets Linux (and WSL2, which is linux-64); native Windows is out of scope (README, Targets)
        print(f"bundle: --platform {args.platform} is not supported: the deploy targets Linux hosts (WSL2 included: "
              "use linux-64); native Windows is out of scope (README, Targets)", file=sys.stderr)
        return 2
    if importlib.util.find_spec("rattler") is None:
        # the conda half solves and indexes with py-rattler, an extra of this project
        print("bundle: building a bundle needs py-rattler: pip install 'gpuws[bundle]' "
              "(or pip install 'py-rattler==0.28.*')", file=sys.stderr)
        return 2
    try:
        stack = None
        if args.stack_file:
            try:
                with open(args.stack_file) as handle:
                    stack = json.load(handle)
            except (OSError, ValueError) as error:
                raise BundleError(f"--stack-file {args.stack_file}: {error}") from None
        options = build.Options(out=args.out, spec=args.spec, stack=stack, platform=args.platform,
                                channels=args.channel, channel_name=args.channel_name, index_url=args.index_url,
                                miniconda_url=args.miniconda_url, miniconda_sha256=args.miniconda_sha256,
                                miniconda_file=args.miniconda_file, python=args.python, refresh=args.refresh)
        result = build.run(options)
    except BundleError as error:
        print(f"bundle: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bundle: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    totals = result.manifest["totals"]
    print(f"bundle {args.out}: {totals['files']} files, {human(totals['bytes'])} "
          f"(upstream {human(totals['upstream_bytes'])}); this run: {result.fetched} fetched or built, "
          f"{human(result.downloaded)} downloaded, {result.removed} stale removed, {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
