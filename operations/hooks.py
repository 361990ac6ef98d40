"""conda activation hooks: TensorFlow finds the env's CUDA libraries with no export by the user.

TF 2.1 dlopens libcudart.so.10.1, libcublas.so.10, ... libcudnn.so.7 by SONAME. conda's
cudatoolkit and cudnn put them in ENV/lib, which the loader does not search (the env's python
has no RUNPATH to it), so `import tensorflow` logs "Could not load dynamic library
'libcudart.so.10.1'" and runs on the CPU (https://github.com/tensorflow/tensorflow/issues/38578).
TensorFlow's own later guidance is an activate.d script that puts ENV/lib on LD_LIBRARY_PATH; conda
(4.3's `source activate` as well as `conda activate`) sources ENV/etc/conda/activate.d/*.sh and
deactivate.d/*.sh.

TensorFlow 2.12 and later take (part of) CUDA from pip: the nvidia-*-cu11/cu12 wheels put
libcudnn.so.8, libcudart.so.12, ... in ENV/lib/pythonX.Y/site-packages/nvidia/*/lib, which the
loader does not search either. TensorFlow's own install page for 2.12/2.13
(https://www.tensorflow.org/install/pip, "Configure the system paths ... automated ... when you
activate this conda environment") writes an activate.d script exporting
LD_LIBRARY_PATH=$CONDA_PREFIX/lib/:$CUDNN_PATH/lib, CUDNN_PATH being site-packages/nvidia/cudnn.
For such stacks the hook adds every site-packages/nvidia/*/lib directory after ENV/lib. It lists
them with a shell glob when the env is activated (no python started on activation), so a wheel
upgraded or added later is found without rewriting the hook.
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import operation

from facts.workstation import read  # this run's broad read (one remote command per host)
from facts.files_state import FileTexts
from facts.verification import CUDA_ACTIVATION_HOOK

from .util.commands import MANAGED_HEADER, absolute, log_diff, same_text, write_file


def pip_libraries(stack: dict) -> bool:
    """Whether a resolved stack takes CUDA libraries from pip wheels (``cuda_from`` pip, or
    conda+pip: cudatoolkit from conda, cuDNN from the nvidia-cudnn wheel)."""
    return "pip" in str(stack.get("cuda_from") or stack.get("cuda_libraries_from") or "").split("+")


def hook_paths(env_prefix: str) -> tuple[str, str]:
    """(activate.d script, deactivate.d script) of an env; the verification sources the first
    one, so its path is the verification fact's."""
    activate = posixpath.join(env_prefix, CUDA_ACTIVATION_HOOK)
    activate_dir, hook_name = posixpath.split(activate)
    return activate, posixpath.join(posixpath.dirname(activate_dir), "deactivate.d", hook_name)


def render_activate_hook(env_prefix: str, pip_libraries: bool = False) -> str:
    """POSIX sh: prepend ENV/lib (and, with ``pip_libraries``, each ENV/lib/python*/site-packages/
    nvidia/*/lib) to LD_LIBRARY_PATH, remembering the previous value (and whether there was one).
    Sourcing it twice changes nothing the second time."""
    lib = shlex.quote(posixpath.join(env_prefix, "lib"))
    if pip_libraries:
        what = "CUDA libraries (ENV/lib and the nvidia-* wheels' lib directories)"
        # The quoted prefix stays literal, the unquoted part is globbed; a pattern that matches
        # nothing stays a word that is not a directory.
        join = (
            "    gpuws_path=$GPUWS_CUDA_LIB\n"
            f"    for gpuws_dir in {lib}/python*/site-packages/nvidia/*/lib; do\n"
            "        if [ -d \"$gpuws_dir\" ]; then gpuws_path=$gpuws_path:$gpuws_dir; fi\n"
            "    done\n"
            "    LD_LIBRARY_PATH=$gpuws_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n"
            "    unset gpuws_path gpuws_dir\n"
        )
    else:
        what = "CUDA libraries (cudatoolkit, cudnn)"
        join = "    LD_LIBRARY_PATH=$GPUWS_CUDA_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n"
    return (
        f"{MANAGED_HEADER}: put this env's {what} on the loader path\n"
        "# so TensorFlow finds them without anyone exporting LD_LIBRARY_PATH. POSIX sh.\n"
        f"if [ \"${{GPUWS_CUDA_LIB:-}}\" != {lib} ]; then\n"
        "    if [ -n \"${LD_LIBRARY_PATH+set}\" ]; then\n"
        "        GPUWS_SAVED_LD_LIBRARY_PATH=$LD_LIBRARY_PATH\n"
        "        export GPUWS_SAVED_LD_LIBRARY_PATH\n"
        "    else\n"
        "        unset GPUWS_SAVED_LD_LIBRARY_PATH\n"
        "    fi\n"
        f"    GPUWS_CUDA_LIB={lib}\n"
        "    export GPUWS_CUDA_LIB\n"
        f"{join}"
        "    export LD_LIBRARY_PATH\n"
        "fi\n"
    )


def render_deactivate_hook(env_prefix: str) -> str:
    """POSIX sh: give LD_LIBRARY_PATH back the value it had before the activate hook (unset when
    it was unset). Without a matching activation it does nothing."""
    lib = shlex.quote(posixpath.join(env_prefix, "lib"))
    return (
        f"{MANAGED_HEADER}: undo the activate.d hook of the same name (restore LD_LIBRARY_PATH). POSIX sh.\n"
        f"if [ \"${{GPUWS_CUDA_LIB:-}}\" = {lib} ]; then\n"
        "    if [ -n \"${GPUWS_SAVED_LD_LIBRARY_PATH+set}\" ]; then\n"
        "        LD_LIBRARY_PATH=$GPUWS_SAVED_LD_LIBRARY_PATH\n"
        "        export LD_LIBRARY_PATH\n"
        "    else\n"
        "        unset LD_LIBRARY_PATH\n"
        "    fi\n"
        "    unset GPUWS_CUDA_LIB GPUWS_SAVED_LD_LIBRARY_PATH\n"
        "fi\n"
    )


@operation()
def cuda_activation(env_prefix: str, pip_libraries: bool = False):
    """
    Install the env's activate.d/deactivate.d hooks that put ENV/lib on LD_LIBRARY_PATH.

    + env_prefix: the conda env, e.g. ``/opt/miniconda3/envs/tf21``
    + pip_libraries: the stack takes CUDA libraries from pip (nvidia-* wheels): their
      site-packages/nvidia/*/lib directories go on the path too

    ``ENV/etc/conda/activate.d/gpuws-cuda.sh`` prepends ENV/lib (saving the previous value),
    ``deactivate.d/gpuws-cuda.sh`` restores it; both are read by one command and each is rewritten
    only when it differs.

    **Example:**

    .. code:: python

        hooks.cuda_activation(name="CUDA libraries on activation", env_prefix="/opt/miniconda3/envs/tf21")
    """
    env_prefix = absolute(env_prefix, "env prefix")
    paths = hook_paths(env_prefix)
    wanted = (render_activate_hook(env_prefix, pip_libraries), render_deactivate_hook(env_prefix))
    # Both files in one read (one remote command, no conda start).
    current = read(FileTexts, paths=list(paths))
    stale = [
        (path, text) for path, text in zip(paths, wanted) if not same_text(current.get(path), text)
    ]
    if not stale:
        host.noop(f"activation hooks of {env_prefix} up to date")
        return
    for path, text in stale:
        log_diff(host, path, current.get(path), text)
        yield write_file(path, text, inside=env_prefix)
