"""What every layer of the verification shares: the failure type, hints, version numbers."""

EXIT_OK = 0
EXIT_LAYER_FAILED = 3

HINT_NO_DRIVER = (
    "no NVIDIA driver answers on this host (neither NVML nor nvidia-smi): install it "
    "(re-run the deploy with nvidia_driver_upgrade=True) and reboot"
)
HINT_DRIVER_UNREACHABLE = (
    "nvidia-smi cannot talk to the driver: reboot if the driver was just upgraded, or reinstall it"
)
HINT_NO_DEVICE = (
    "the driver sees no GPU: check that the card is seated and powered (lspci -d 10de:) and that "
    "nouveau is not bound to it"
)


class LayerFailure(Exception):
    """A layer's check failed: `detail` says what was seen, `hint` what to do about it."""

    def __init__(self, detail, hint):
        Exception.__init__(self, detail)
        self.detail = detail
        self.hint = hint


def text(value):
    """pynvml returns bytes in older releases and str in newer ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def last_error_line(error):
    """"TypeName: message", its last line: enough to match a hint, short enough for a verdict."""
    return "{0}: {1}".format(type(error).__name__, error).strip().splitlines()[-1]


def cuda_version_number(version):
    """"10.1" -> 10010, the encoding cuDriverGetVersion uses (1000 * major + 10 * minor)."""
    if version is None or version == "":
        return None
    if isinstance(version, int):
        return version
    parts = str(version).split(".")
    major = int(parts[0])
    minor = int(parts[1]) if len(parts) > 1 else 0
    return 1000 * major + 10 * minor


def cuda_version_text(number):
    """10010 -> "10.1"."""
    return "{0}.{1}".format(number // 1000, (number % 1000) // 10)
