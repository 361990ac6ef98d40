"""Layer "libraries": the CUDA runtime and cuDNN libraries TensorFlow dlopens load, and from
where (the env's own copies, or shadowing ones from outside the env)."""

import ctypes
import os

from .base import LayerFailure


def loaded_library_paths(maps_path="/proc/self/maps"):
    """Paths of the shared objects mapped into this process."""
    paths = set()
    try:
        with open(maps_path) as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    paths.add(fields[5].strip())
    except (IOError, OSError):
        pass
    return paths


def library_origin(soname, paths):
    """The mapped file that provides `soname` (the real file, e.g. libcudnn.so.7.6.5), or None."""
    for path in sorted(paths):
        name = os.path.basename(path)
        if name == soname or name.startswith(soname + "."):
            return path
    return None


def inside(path, prefix):
    real_prefix = os.path.realpath(prefix).rstrip("/") + "/"
    return os.path.realpath(path).startswith(real_prefix)


def library_hint(soname, env_prefix):
    package = "cudnn" if soname.startswith("libcudnn") else "cudatoolkit"
    return (
        "{0} not found in the env: re-run the deploy (conda package {1}) or check LD_LIBRARY_PATH "
        "shadowing by /usr/local/cuda (the env's libraries are in {2}/lib)".format(
            soname, package, env_prefix)
    )


def check_libraries(params, found):
    """The layer: each soname of the stack loads; where it came from is kept in the detail."""
    env_prefix = params["env_prefix"]
    notes = []
    for soname in params.get("libraries") or []:
        try:
            ctypes.CDLL(soname)
        except OSError as error:
            raise LayerFailure("{0} does not load: {1}".format(soname, error),
                               library_hint(soname, env_prefix))
        origin = library_origin(soname, loaded_library_paths())
        if origin is None:
            notes.append("{0} (origin unknown)".format(soname))
        elif inside(origin, env_prefix):
            notes.append("{0} (env)".format(soname))
        else:
            # Loads, but not the env's copy: TensorFlow will use it too. Worth seeing in the verdict.
            notes.append("{0} from {1} (outside the env)".format(soname, origin))
    if not notes:
        return "no libraries to check"
    return "loaded: " + ", ".join(notes)
