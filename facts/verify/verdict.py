"""The verdict: run the layers in order, stop at the first failure, print ONE JSON line.

Everything else (TensorFlow's logs included) goes to stderr. The verdict's shape is stable:
``{"ok", "failed_layer", "hint", "layers": [{"name", "ok", "detail"}], "host", "tensorflow",
...}``; the exit status is 0 when every layer passed, 3 when one failed.

Arguments (the pyinfra fact feeds the program itself on stdin: ``python - ARGS``):
  --params-json JSON   {"tensorflow": "2.1.0", "libraries": [...], "min_cuda_driver": "10.1",
                        "verdict_path": "...", "env_prefix": "..."}; flags below override it
  --tensorflow VERSION --library SONAME (repeatable) --min-cuda-driver X.Y
  --verdict-path PATH  --env-prefix PATH (default: this python's sys.prefix)
  --layers NAME,...    run only these layers, in their usual order (e.g. the framework-free
                       driver,cuda_driver,ptx_compute)
"""

import argparse
import datetime
import json
import os
import socket
import sys

from .base import EXIT_LAYER_FAILED, EXIT_OK, LayerFailure
from .cuda import check_cuda_driver
from .driver import check_driver
from .framework import check_compute, check_tensorflow
from .libraries import check_libraries
from .ptx import check_ptx_compute

CHECKS = (
    ("driver", check_driver),
    ("cuda_driver", check_cuda_driver),
    ("ptx_compute", check_ptx_compute),
    ("libraries", check_libraries),
    ("tensorflow", check_tensorflow),
    ("compute", check_compute),
)
LAYERS = tuple(name for name, _ in CHECKS)


def run_layers(params, checks=CHECKS):
    """Run the layers in order, stop at the first failure; return the verdict dict."""
    found = {}
    layers, failed_layer, hint = [], None, None
    for name, check in checks:
        try:
            detail = check(params, found)
        except LayerFailure as failure:
            layers.append({"name": name, "ok": False, "detail": failure.detail})
            failed_layer, hint = name, failure.hint
            break
        except Exception as error:  # a check's own bug must still end in a verdict
            layers.append({"name": name, "ok": False,
                           "detail": "unexpected {0}: {1}".format(type(error).__name__, error)})
            failed_layer = name
            hint = "the verification itself failed at this layer: run it by hand to see the traceback"
            break
        layers.append({"name": name, "ok": True, "detail": detail})
    return {
        "ok": failed_layer is None,
        "failed_layer": failed_layer,
        "hint": hint,
        "layers": layers,
        "host": socket.gethostname(),
        "tensorflow": found.get("tensorflow"),
        "tensorflow_expected": params.get("tensorflow"),
        "driver_version": found.get("driver_version"),
        "cuda_driver": found.get("cuda_driver"),
        "gpu": found.get("gpu"),
        "python": "{0}.{1}.{2}".format(*sys.version_info[:3]),
        "env_prefix": params.get("env_prefix"),
        "checked_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_verdict(verdict, path):
    """Keep the last verdict for the fleet report; atomic, so a reader never sees half a file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory)
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(verdict, sort_keys=True) + "\n")
    os.rename(temporary, path)


def parse_params(argv):
    parser = argparse.ArgumentParser(description="Layered GPU verification; prints one JSON verdict.")
    parser.add_argument("--params-json", default=None)
    parser.add_argument("--tensorflow", default=None)
    parser.add_argument("--library", action="append", dest="libraries", default=None)
    parser.add_argument("--min-cuda-driver", default=None)
    parser.add_argument("--verdict-path", default=None)
    parser.add_argument("--env-prefix", default=None)
    parser.add_argument("--layers", default=None)
    options = parser.parse_args(argv)
    params = json.loads(options.params_json) if options.params_json else {}
    for key in ("tensorflow", "libraries", "min_cuda_driver", "verdict_path", "env_prefix", "layers"):
        value = getattr(options, key)
        if value is not None:
            params[key] = value
    params.setdefault("libraries", [])
    params.setdefault("env_prefix", sys.prefix)
    if isinstance(params.get("layers"), str):
        params["layers"] = [name.strip() for name in params["layers"].split(",") if name.strip()]
    unknown = sorted(set(params.get("layers") or []) - set(LAYERS))
    if unknown:
        parser.error("unknown layer(s) {0}; the layers are {1}".format(", ".join(unknown), ",".join(LAYERS)))
    return params


class StdoutToStderr(object):
    """While the layers run, fd 1 points at stderr: libraries (TensorFlow's C++ logging, prints in
    imported modules) must not add lines to stdout, where the one JSON verdict goes."""

    def __enter__(self):
        sys.stdout.flush()
        self.saved_fd = os.dup(1)
        os.dup2(2, 1)
        # Python-level writes too: sys.stdout may not be fd 1 (an embedding, a test's capture)
        self.saved_stream, sys.stdout = sys.stdout, sys.stderr
        return self

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        sys.stdout = self.saved_stream
        os.dup2(self.saved_fd, 1)
        os.close(self.saved_fd)
        return False


def main(argv=None, checks=CHECKS):
    """Parse the arguments, run the layers, print (and optionally keep) the verdict."""
    params = parse_params(sys.argv[1:] if argv is None else argv)
    # TensorFlow's INFO lines are noise here; its warnings (which library failed) still reach stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if params.get("layers"):
        checks = tuple((name, check) for name, check in checks if name in params["layers"])
    with StdoutToStderr():
        verdict = run_layers(params, checks)
    if params.get("verdict_path"):
        try:
            write_verdict(verdict, params["verdict_path"])
        except (IOError, OSError) as error:
            sys.stderr.write("could not write the verdict to {0}: {1}\n".format(
                params["verdict_path"], error))
    sys.stdout.write(json.dumps(verdict, sort_keys=True) + "\n")
    sys.stdout.flush()
    return EXIT_OK if verdict["ok"] else EXIT_LAYER_FAILED
