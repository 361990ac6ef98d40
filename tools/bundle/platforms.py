"""Target platforms a bundle can be built for: conda subdir -> virtual packages and pip tags.

The controller builds for a *target* that is not itself, so everything the solvers would
normally detect on the running machine is declared here instead.
"""

from deploys.bundle_manifest import BundleError

# Virtual packages stand for the target host in the conda solve. __glibc 2.17 is the
# conservative floor that conda's linux-64 packages are built against: a lower figure only
# excludes packages, it never admits one the hosts cannot run. __cuda is added per stack
# (see conda_virtual_packages).
PLATFORMS = {
    "linux-64": {
        "virtual": [("__unix", "0", "0"), ("__linux", "0", "0"), ("__glibc", "2.17", "0"),
                    ("__archspec", "1", "x86_64")],
        # Newest tag last; pip accepts any of them for the target.
        "pip_platforms": ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"],
        # PEP 508 environment of the target, for the markers in Requires-Dist (see wheels.py).
        "markers": {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
                    "platform_machine": "x86_64"},
    },
    "win-64": {
        "virtual": [("__win", "0", "0"), ("__archspec", "1", "x86_64")],
        "pip_platforms": ["win_amd64"],
        "markers": {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
                    "platform_machine": "AMD64"},
    },
}


def platform(name):
    """The table row of a conda subdir, or BundleError naming the known ones."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise BundleError(f"unknown platform {name!r}: use one of {', '.join(sorted(PLATFORMS))}") from None


def python_abi(python_version):
    """cp37m for 3.7, cp38 for 3.8: the 'm' (pymalloc) suffix was dropped in 3.8."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    return f"cp{major}{minor}" + ("m" if (major, minor) < (3, 8) else "")


def conda_virtual_packages(name, stack):
    """rattler GenericVirtualPackage list for the target of `stack` on platform `name`.

    __cuda is the stack's CUDA version: a host that passes the stack's driver gate runs at
    least that CUDA, and it lets packages that constrain __cuda (cudatoolkit 11.0.221 shares
    the build string h6bb024c_0 with 10.1.243) be judged as they would be on the host.
    """
    import rattler

    rows = list(platform(name)["virtual"])
    if stack.get("cudatoolkit"):
        rows.append(("__cuda", str(stack["cudatoolkit"]), "0"))
    return [rattler.GenericVirtualPackage(rattler.PackageName(n), rattler.Version(v), rattler.BuildString(b)) for n, v, b in rows]
