"""TF 2.1's generated protobuf modules fail under protobuf >= 4 (tensorflow#56266, protobuf#10064); so does this.
TF 2.15's are generated for protobuf 4 (its Requires-Dist: protobuf <5.0.0dev,>=3.20.3): no check there."""
from . import _build

try:
    from google import protobuf as _protobuf
except ImportError:  # TF requires protobuf; pip installs it
    raise ImportError("No module named 'google.protobuf'") from None

if _build.PROTOBUF_BELOW and int(_protobuf.__version__.split(".")[0]) >= _build.PROTOBUF_BELOW:
    raise TypeError(
        "Descriptors cannot not be created directly.\n"
        "If this call came from a _pb2.py file, your generated code is out of date and must be "
        "regenerated with protoc >= 3.19.0.\n"
        "If you cannot immediately regenerate your protos, some other possible workarounds are:\n"
        " 1. Downgrade the protobuf package to 3.20.x or lower.\n"
        " 2. Set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python (but this will use pure-Python "
        "parsing and will be much slower).")
