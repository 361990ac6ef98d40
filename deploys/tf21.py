"""The tf21 deep-learning workstation, converged idempotently:

NVIDIA driver >= 418.96, Miniconda, conda env `tf21` with python 3.7, cudatoolkit 10.1, cudnn 7.6.5,
tensorflow-gpu 2.1.0 with h5py/numpy/pillow/scipy/pandas at pins that work with it, a CUDA activation
hook, and a layered GPU verification at the end. The stack itself is declared in
stacks/data/stacks.yaml (`tf21`) and is the default of data `stack` (deploys/settings.py); every
step serves any stack by data:

    pyinfra inventories/lab.py deploys/tf21.py                  # converge the lab
    pyinfra inventories/lab.py deploys/tf21.py --dry            # drift preview, changes nothing
    pyinfra inventories/lab.py deploys/tf21.py --data stack=tensorflow==2.3.0

Runs from any directory (pyinfra puts only the current directory on sys.path, so the first import
may need the repository's root or the installed gpuws package), and composes into a lab's own
pyinfra project once installed: `from gpuws.deploys.workstation import gpu_workstation`. A bad stack
or data value stops the run with one line before any operation runs on any host.
"""

import sys
from pathlib import Path

try:
    from deploys.workstation import gpu_workstation
except ModuleNotFoundError as error:
    if error.name != "deploys":
        raise
    _root = Path(__file__).resolve().parents[1]  # the checkout, or site-packages/gpuws when installed
    sys.path.insert(0, str(_root if (_root / "gpuws").is_dir() else _root.parent))
    import gpuws  # noqa: F401  (the rooms' top-level names resolve to gpuws.<room>)
    from deploys.workstation import gpu_workstation

gpu_workstation()
