"""The simulated hardware of one host, as the file the stand-ins read (/etc/gpuws-lab/hardware.conf).

Shell-sourceable KEY=VALUE lines: the stand-in nvidia-smi (bash), the stub libcuda (C), the
stand-in TensorFlow (Python) and the boot script all read the same file. It is what a real box's
PCI bus and GPU firmware would tell; nothing else on a lab host describes the GPUs.
"""

import hashlib
import shlex

from .spec import WSL2_KERNEL_RELEASE, HostSpec

NVIDIA_VENDOR = "0x10de"
VGA_CLASS = "0x030000"
# A non-NVIDIA device on every host, so PCI scans must filter by vendor as on real machines.
HOST_BRIDGE = ("0000:00:00.0", "0x8086", "0x1237", "0x060000")


def _uuid(host: str, index: int) -> str:
    digest = hashlib.sha256(f"{host}/{index}".encode()).hexdigest()
    return f"GPU-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def hardware_conf(host: HostSpec) -> str:
    lines = [
        "# STAND-IN hardware of this gpuws lab host (written by the lab from its host spec).",
        "# Read by the stand-in nvidia-smi, libcuda.so.1, TensorFlow and the boot script.",
        f"GPU_COUNT={len(host.gpus)}",
    ]
    pci = [",".join(HOST_BRIDGE)]
    for index, gpu in enumerate(host.gpus):
        bus = index + 1
        lines += [
            f"GPU{index}_NAME={shlex.quote(gpu.name)}",
            f"GPU{index}_MEMORY_MIB={gpu.memory_mib}",
            f"GPU{index}_COMPUTE_CAPABILITY={gpu.compute_capability}",
            f"GPU{index}_PCI_BUS_ID=00000000:{bus:02X}:00.0",
            f"GPU{index}_UUID={_uuid(host.name, index)}",
        ]
        if not host.wsl2:  # WSL2 reaches the GPU through /dev/dxg, not a PCI device in the VM
            pci.append(f"0000:{bus:02x}:00.0,{NVIDIA_VENDOR},{gpu.pci_device_id},{VGA_CLASS}")
    lines.append(f"SECURE_BOOT={1 if host.secure_boot else 0}")
    if host.wsl2:
        # STAND-IN WSL2: boot.sh makes /dev/dxg and the Microsoft kernel release (uname stand-in,
        # /proc/sys/kernel/osrelease); the Windows driver is "loaded" from boot on.
        lines += ["WSL2=1", f"KERNEL_RELEASE={WSL2_KERNEL_RELEASE}", f"WINDOWS_DRIVER={host.windows_driver}"]
    lines.append(f"PCI_DEVICES={shlex.quote(' '.join(pci))}")
    return "\n".join(lines) + "\n"
