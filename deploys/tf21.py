"""The tf21 deep-learning workstation, converged idempotently:

NVIDIA driver >= 418.96, Miniconda, conda env `tf21` with python 3.7, cudatoolkit 10.1, cudnn 7.6.5,
tensorflow-gpu 2.1.0 with h5py/numpy/pillow/scipy/pandas at pins that work with it, a CUDA activation
hook, and a layered GPU verification at the end. The stack itself is declared in
stacks/data/stacks.yaml (`tf21`) and is the default of data `stack` (deploys/settings.py); every
step serves any stack by data:

    pyinfra inventories/lab.py deploys/tf21.py                  # converge the lab
    pyinfra inventories/lab.py deploys/tf21.py --dry            # drift preview, changes nothing
    pyinfra inventories/lab.py deploys/tf21.py --data stack=tensorflow==2.3.0

Run from the project root. A bad stack or data value stops the run with one line before any
operation runs on any host.
"""

from deploys.workstation import gpu_workstation

gpu_workstation()
