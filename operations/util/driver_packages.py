"""The distro side of the NVIDIA driver: which packages install a branch, and the commands that
install and hold them and blacklist nouveau (pure: no host).

Why not pyinfra's apt.packages / dnf.packages / files.line: GpuInfo already holds the installed
driver packages (one read), the packaging ops would read the package list again, would leave
Debian's unversioned ``nvidia-driver`` as it is when an older one is installed, and know nothing
of holds; files.line would read the blacklist once per line and cannot tie the initramfs rebuild
to its change, which the one command below does.
"""

from __future__ import annotations

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.command import make_formatted_string_command

NOUVEAU_BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"
NOUVEAU_LINES = ("blacklist nouveau", "options nouveau modeset=0")

# The distro's own way to install a driver branch, when data does not name the packages:
# Ubuntu's `nvidia-driver-<branch>` metapackages (`-open` for the open kernel modules,
# https://ubuntu.com/server/docs/nvidia-drivers-installation), Debian's non-free `nvidia-driver`
# (the release's current branch) and `nvidia-tesla-<branch>-driver` for the older branches Debian
# keeps (470 for Kepler, https://wiki.debian.org/NvidiaGraphicsDrivers), and the RHEL family's
# dnf module streams `nvidia-driver:<branch>-dkms` / `<branch>-open`
# (https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/, as NVIDIA's Ansible role).
DISTRO_FAMILIES = (
    (("ubuntu", "pop", "linuxmint"), "ubuntu", "apt"),
    (("debian",), "debian", "apt"),
    (("rhel", "centos", "rocky", "almalinux", "fedora", "ol"), "rhel", "dnf"),
)
# Debian's own `nvidia-driver` follows the release (535 in bookworm, 550 in trixie); branches up
# to this one are the `nvidia-tesla-<branch>-driver` packages.
DEBIAN_TESLA_UP_TO = 470


def distro_family(distro: dict) -> tuple[str, str] | None:
    """(family, package manager) for a `server.LinuxDistribution` fact; None when unknown."""
    meta = (distro or {}).get("release_meta") or {}
    ids = [meta.get("ID", "")] + meta.get("ID_LIKE", "").split()
    ids = [i.strip().strip('"').lower() for i in ids if i]
    for names, family, manager in DISTRO_FAMILIES:
        if any(i in names for i in ids):
            return family, manager
    return None


def branch_packages(family: str, branch: str, open_modules: bool = False) -> list[str]:
    """
    The packages that install ``branch`` on a distro family.

    + family: "ubuntu", "debian" or "rhel" (`distro_family`)
    + branch: the driver branch ("470")
    + open_modules: the open kernel modules instead of the proprietary ones

    **Example:**

    .. code:: python

        branch_packages("ubuntu", "580", open_modules=True)  # ["nvidia-driver-580-open"]
        branch_packages("debian", "470")                     # ["nvidia-tesla-470-driver"]
        branch_packages("rhel", "570", open_modules=True)    # ["nvidia-driver:570-open"]
    """
    branch = str(branch)
    if family == "ubuntu":
        return [f"nvidia-driver-{branch}-open" if open_modules else f"nvidia-driver-{branch}"]
    if family == "debian":
        if branch.isdigit() and int(branch) <= DEBIAN_TESLA_UP_TO:
            return [f"nvidia-tesla-{branch}-driver"]
        return ["nvidia-open-kernel-dkms", "nvidia-driver"] if open_modules else ["nvidia-driver"]
    if family == "rhel":
        return [f"nvidia-driver:{branch}-open" if open_modules else f"nvidia-driver:{branch}-dkms"]
    raise ValueError(f"unknown distro family {family!r}")


def distro_driver_packages(distro: dict, branch: str = "{branch}",
                           open_modules: bool = False) -> tuple[str, list[str]] | None:
    """(package manager, packages of ``branch``) for a `server.LinuxDistribution` fact; None when unknown."""
    found = distro_family(distro)
    if found is None:
        return None
    family, manager = found
    return manager, branch_packages(family, branch, open_modules)


def with_branch(packages: list[str], branch: str) -> list[str]:
    """The package names with ``{branch}`` filled in ("nvidia-driver-{branch}" -> "nvidia-driver-535")."""
    return [package.replace("{branch}", str(branch)) for package in packages]


def pinned(packages: list[str], manager: str, version: str | None) -> list[str]:
    """The install arguments that pin one exact driver version (data nvidia_driver_version).

    apt: ``pkg=VERSION-*`` (the distro's revision follows the driver version; apt accepts a version
    glob) or ``pkg=VERSION`` when a full package version is given; dnf: a module stream stays a
    stream and its ``nvidia-driver-VERSION`` package is installed beside it, a plain name gets ``-VERSION``.
    """
    if not version:
        return list(packages)
    if manager == "apt":
        suffix = version if "-" in version else f"{version}-*"
        return [f"{package}={suffix}" for package in packages]
    out = []
    for package in packages:
        if ":" in package:  # "nvidia-driver:535-dkms": the stream, then its exact package
            out += [package, f"{package.split(':', 1)[0]}-{version}"]
        else:
            out.append(f"{package}-{version}")
    return out


def apt_commands(packages: list[str], unhold: list[str], hold: bool, version: str | None = None):
    """Lift the holds in ``unhold``, refresh the lists, install (``version``: that exact one, a
    downgrade included), blacklist nouveau, hold again."""
    if unhold:
        yield StringCommand("apt-mark", "unhold", "--", *[QuoteString(p) for p in unhold])
    yield StringCommand("DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq")
    options = ["--allow-downgrades"] if version else []
    # `--` before every operand taken from data (apt-get, apt-mark and dnf all end their options
    # there): a package name can never become an option such as -oDpkg::Pre-Invoke=...
    yield StringCommand(
        "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
        "--no-install-recommends", *options, "--", *[QuoteString(p) for p in pinned(packages, "apt", version)],
    )
    yield nouveau_blacklist_command()
    if hold:
        yield StringCommand("apt-mark", "hold", "--", *[QuoteString(p) for p in packages])


def _dnf_name(package: str) -> str:
    return package.split(":", 1)[0]


def dnf_commands(packages: list[str], unhold: list[str], hold: bool, version: str | None = None):
    """The same on dnf: module streams and plain packages, versionlock for the holds."""
    packages = pinned(packages, "dnf", version)
    if unhold:
        yield StringCommand("dnf", "versionlock", "delete", "--", *[QuoteString(p) for p in unhold])
    modules = [p for p in packages if ":" in p]  # module streams: "nvidia-driver:535-dkms"
    plain = [p for p in packages if ":" not in p]
    if modules:
        yield StringCommand("dnf", "module", "install", "-y", "--", *[QuoteString(p) for p in modules])
    if plain:
        yield StringCommand("dnf", "install", "-y", "--", *[QuoteString(p) for p in plain])
    yield nouveau_blacklist_command()
    if hold:
        names = [QuoteString(_dnf_name(p)) for p in packages]
        # versionlock is a plugin (python3-dnf-plugin-versionlock); without it the module stream
        # already pins the branch, so its absence is not an error.
        yield make_formatted_string_command(
            "if dnf versionlock --help >/dev/null 2>&1; then dnf versionlock add -- {0} ; fi",
            StringCommand(*names),
        )


def nouveau_blacklist_command() -> StringCommand:
    """Blacklist nouveau and rebuild the initramfs (nouveau is loaded from it), only if the
    blacklist is not there yet: a re-run never rebuilds the initramfs for nothing. A host with
    neither update-initramfs nor dracut boots without an initramfs: there is nothing to rebuild."""
    return make_formatted_string_command(
        "if ! grep -qsx {first} {path} ; then printf {format} {lines} > {path} && "
        "{{ if command -v update-initramfs >/dev/null 2>&1; then update-initramfs -u; "
        "elif command -v dracut >/dev/null 2>&1; then dracut -f; fi; }}; fi",
        first=QuoteString(NOUVEAU_LINES[0]), path=QuoteString(NOUVEAU_BLACKLIST), format=QuoteString("%s\\n"),
        lines=StringCommand(*[QuoteString(line) for line in NOUVEAU_LINES]),
    )
