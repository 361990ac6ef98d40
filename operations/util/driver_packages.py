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
# Ubuntu's `nvidia-driver-<branch>` metapackages, Debian's single non-free `nvidia-driver`, and the
# RHEL family's dnf module streams (as NVIDIA's Ansible role installs them).
DISTRO_DRIVERS = (
    (("ubuntu", "pop", "linuxmint"), "apt", ["nvidia-driver-{branch}"]),
    (("debian",), "apt", ["nvidia-driver"]),
    (("rhel", "centos", "rocky", "almalinux", "fedora", "ol"), "dnf", ["nvidia-driver:{branch}-dkms"]),
)


def distro_driver_packages(distro: dict) -> tuple[str, list[str]] | None:
    """(package manager, packages) for a `server.LinuxDistribution` fact; None when unknown."""
    meta = (distro or {}).get("release_meta") or {}
    ids = [meta.get("ID", "")] + meta.get("ID_LIKE", "").split()
    ids = [i.strip().strip('"').lower() for i in ids if i]
    for names, manager, packages in DISTRO_DRIVERS:
        if any(i in names for i in ids):
            return manager, list(packages)
    return None


def with_branch(packages: list[str], branch: str) -> list[str]:
    """The package names with ``{branch}`` filled in ("nvidia-driver-{branch}" -> "nvidia-driver-535")."""
    return [package.replace("{branch}", str(branch)) for package in packages]


def apt_commands(packages: list[str], unhold: list[str], hold: bool):
    """Lift the holds in ``unhold``, refresh the lists, install, blacklist nouveau, hold again."""
    if unhold:
        yield StringCommand("apt-mark", "unhold", *[QuoteString(p) for p in unhold])
    yield StringCommand("DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-qq")
    yield StringCommand(
        "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
        "--no-install-recommends", *[QuoteString(p) for p in packages],
    )
    yield nouveau_blacklist_command()
    if hold:
        yield StringCommand("apt-mark", "hold", *[QuoteString(p) for p in packages])


def _dnf_name(package: str) -> str:
    return package.split(":", 1)[0]


def dnf_commands(packages: list[str], unhold: list[str], hold: bool):
    """The same on dnf: module streams and plain packages, versionlock for the holds."""
    if unhold:
        yield StringCommand("dnf", "versionlock", "delete", *[QuoteString(p) for p in unhold])
    modules = [p for p in packages if ":" in p]  # module streams: "nvidia-driver:535-dkms"
    plain = [p for p in packages if ":" not in p]
    if modules:
        yield StringCommand("dnf", "module", "install", "-y", *[QuoteString(p) for p in modules])
    if plain:
        yield StringCommand("dnf", "install", "-y", *[QuoteString(p) for p in plain])
    yield nouveau_blacklist_command()
    if hold:
        names = [QuoteString(_dnf_name(p)) for p in packages]
        # versionlock is a plugin (python3-dnf-plugin-versionlock); without it the module stream
        # already pins the branch, so its absence is not an error.
        yield make_formatted_string_command(
            "if dnf versionlock --help >/dev/null 2>&1; then dnf versionlock add {0} ; fi",
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
