import collections

from . import _gpu

PhysicalDevice = collections.namedtuple("PhysicalDevice", ["name", "device_type"])


def list_physical_devices(device_type=None):
    found = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    found += [PhysicalDevice("/physical_device:GPU:%d" % index, "GPU") for index, *_ in _gpu.devices()]
    return [d for d in found if device_type is None or d.device_type == device_type]


class experimental:  # noqa: N801  (the tf.config.experimental namespace)
    list_physical_devices = staticmethod(list_physical_devices)
