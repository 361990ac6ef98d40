"""The simulated lab: SSH-reachable test workstations with stand-in GPUs.

Each host is a real Debian bookworm userland (copy-on-write over one shared base) with its own
network, pid, uts, mount and time namespaces and a real sshd. What cannot be real on a machine
without a GPU (the GPU, the driver's contents, the CUDA/cuDNN payloads, the Miniconda installer
wrapper, a fast TensorFlow wheel) is a stand-in, labelled as such. See lab/README.md.

Entry point: ``python -m lab build|up SPEC|reset HOST|down|status|exec HOST CMD|run -- CMD|inventory``.
"""
