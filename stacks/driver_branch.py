"""Choose the NVIDIA driver branch for a host's GPUs (and, optionally, a stack).

The rule (docs/knowledge/driver-branches.md):

1. Every PCI device id must be in NVIDIA's lists (stacks/data/nvidia_supported_gpus.json). An id
   no list knows is refused: it is a GPU newer than the table or not an NVIDIA GPU, and installing
   a driver that may not drive it would leave the host without a working GPU.
2. Candidates are the branches whose list drives EVERY GPU, from the oldest branch installed here
   (418) on; 340.xx/390.xx-only GPUs (Tesla, Fermi architectures) are refused.
3. With a stack: every GPU's compute capability must run the stack (stacks.gpu_support) and the
   branch's version must meet the stack's minimum driver.
4. Of the candidates, the newest long-term branch (LTSB) wins; without one, the newest branch.

Bad or impossible input raises StackError with one line naming the GPU and what would work.

**Example:**

.. code:: python

    from stacks.driver_branch import choose
    choose(["0x102d"]).branch                  # "470" (Tesla K80, Kepler: NVIDIA's 470 legacy branch)
    choose(["0x2b85"], stack=None).branch      # "580" (RTX 5090: 570 and newer; 580 is long-term)
"""

from __future__ import annotations

from typing import NamedTuple

# The stack knowledge through the package's public names (stacks/__init__.py), not its modules.
from . import compute_capability_for, driver_satisfies, gpu_support, resolve
from . import nvidia_chips as chips
from .errors import StackError
from .nvidia_lists import branch_key


class BranchChoice(NamedTuple):
    """The chosen branch and why.

    + branch: the branch to install ("470")
    + candidates: every branch that would work, newest first (`branch` is the one the rule picks)
    + reason: one line saying why
    + gpus: per GPU {pci_id, name, compute_capability, branches, legacy, kernelopen}
    """

    branch: str
    candidates: list
    reason: str
    gpus: list

    def as_dict(self) -> dict:
        """The JSON form the CLI prints: {"branch", "candidates", "reason", "gpus"}."""
        return {"branch": self.branch, "candidates": list(self.candidates), "reason": self.reason,
                "gpus": [dict(gpu) for gpu in self.gpus]}


def _span(branches: list[str]) -> str:
    return branches[0] if len(branches) == 1 else f"{branches[0]} to {branches[-1]}"


def describe_gpu(pci_id) -> dict:
    """What the table says about one device id: {pci_id, name, compute_capability, branches, legacy, kernelopen}.

    Raises StackError when the id is malformed or in none of NVIDIA's lists known here.
    """
    devid = chips.parse_pci_id(pci_id)
    row = chips.device(devid)
    if row is None:
        newest = chips.known_branches()[-1]
        raise StackError(
            f"PCI device id 0x{devid} is in none of NVIDIA's supported-chips lists known here (newest: "
            f"{chips.branch_info(newest)['version']}): a GPU newer than the table or not an NVIDIA GPU; "
            f"refresh the table (python -m stacks refresh-driver-table) or choose the branch explicitly")
    return {"pci_id": f"0x{devid}", "name": row["name"], "compute_capability": compute_capability_for(row["name"]),
            "branches": chips.branches_for(devid), "legacy": row.get("legacy"), "kernelopen": row["kernelopen"]}


def _label(gpu: dict) -> str:
    return f"{gpu['name']} ({gpu['pci_id']})"


def _installable(gpu: dict, oldest: str) -> list[str]:
    usable = [branch for branch in gpu["branches"] if branch_key(branch) >= branch_key(oldest)]
    if not usable:
        last = gpu["branches"][-1] if gpu["branches"] else gpu["legacy"]
        raise StackError(
            f"{_label(gpu)} is driven only by NVIDIA's {last}.xx legacy driver, older than any branch "
            f"installed here ({oldest} and newer): no CUDA stack here runs on it; use a newer GPU")
    return usable


def _check_stack(gpus: list[dict], spec: str) -> tuple[dict, list[str]]:
    """Resolve the stack and refuse a GPU it cannot run; returns (stack, notes about unknown capabilities)."""
    stack = resolve(spec)
    notes = []
    for gpu in gpus:
        ok, message, _suggestion = gpu_support(stack, gpu["compute_capability"])
        if not ok:
            raise StackError(f"{_label(gpu)}: {message}")
        if gpu["compute_capability"] is None:
            notes.append(f"compute capability of {gpu['name']} unknown (stacks/data/gpu_models.yaml): not checked")
    return stack, notes


def choose(pci_ids, stack: str | None = None) -> BranchChoice:
    """The driver branch for a host with these GPUs, optionally for a stack.

    + pci_ids: the host's NVIDIA PCI device ids ("0x102d", "102d" or "10de:102d"); duplicates are fine
    + stack: a stack spec ("tf21", "tensorflow==2.1.0") the GPUs must run, or None

    Raises StackError (one line) when no branch can: unknown or malformed id, a GPU only a legacy
    branch older than 418 drives, GPUs no single branch drives, a GPU the stack cannot run.

    **Example:**

    .. code:: python

        choice = choose(["0x1b80"], stack="tf21")
        choice.branch, choice.candidates[:2]  # ("580", ["580", "575"]): GTX 1080, Pascal: 580 is its last
    """
    ids = list(dict.fromkeys(chips.parse_pci_id(pci_id) for pci_id in (pci_ids or [])))
    if not ids:
        raise StackError("no GPU given: pass the host's NVIDIA PCI device ids (--pci-id 0x102d)")
    gpus = [describe_gpu(devid) for devid in ids]
    oldest = chips.lifecycle()["oldest_installable"]
    usable = {gpu["pci_id"]: _installable(gpu, oldest) for gpu in gpus}
    common = sorted(set.intersection(*(set(branches) for branches in usable.values())), key=branch_key)
    if not common:
        spans = "; ".join(f"{_label(gpu)}: {_span(usable[gpu['pci_id']])}" for gpu in gpus)
        raise StackError(f"no driver branch drives all these GPUs ({spans}): put them in different hosts")
    notes = []
    if stack is not None:
        resolved, notes = _check_stack(gpus, stack)
        minimum = resolved["min_driver"]
        meets = [branch for branch in common if driver_satisfies(chips.branch_info(branch)["version"], minimum)]
        if not meets:
            raise StackError(f"{stack} needs driver {minimum} or newer, but the branches that drive "
                             f"{', '.join(map(_label, gpus))} stop at {common[-1]} "
                             f"({chips.branch_info(common[-1])['version']})")
        common = meets
    candidates = sorted(common, key=branch_key, reverse=True)
    long_term = [branch for branch in candidates if chips.is_long_term(branch)]
    branch = (long_term or candidates)[0]
    return BranchChoice(branch, candidates, _reason(branch, gpus, stack, notes), gpus)


def _reason(branch: str, gpus: list[dict], stack: str | None, notes: list[str]) -> str:
    info = chips.branch_info(branch)
    kind = "long-term branch" if info.get("long_term") else "branch (no long-term branch fits)"
    life = f" (end of life: {info['end_of_life']})" if info.get("end_of_life") else ""
    text = f"{branch} ({info['version']}) is the newest {kind}{life} that drives {', '.join(map(_label, gpus))}"
    if stack is not None:
        text += f" and meets {stack}'s minimum driver"
    legacy = [gpu["name"] for gpu in gpus if gpu["legacy"] == branch]
    if legacy:
        text += f"; it is NVIDIA's last branch for {', '.join(legacy)}"
    return "; ".join([text, *notes])


def explain_unsupported(branch: str, pci_ids) -> str | None:
    """None when `branch` drives every GPU, else one line naming each GPU it cannot drive and what would.

    For a branch given explicitly (data `nvidia_driver_branch`): the host fails before any change.

    **Example:**

    .. code:: python

        explain_unsupported("535", ["0x102d"])
        # "driver branch 535 cannot drive Tesla K80 (0x102d): NVIDIA's lists drive it with 390 to 470"
    """
    problems = []
    for pci_id in pci_ids:
        gpu = describe_gpu(pci_id)
        if not chips.branch_supports(branch, gpu["pci_id"]):
            problems.append(f"{_label(gpu)}: NVIDIA's lists drive it with "
                            f"{_span(gpu['branches']) if gpu['branches'] else 'no branch known here'}")
    return f"driver branch {branch} cannot drive {'; '.join(problems)}" if problems else None
