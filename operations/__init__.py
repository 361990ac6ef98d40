"""Idempotent pyinfra operations, one module per tool (driver, conda, pip, hooks, gpu_gate, verify,
bundle): each compares facts with the desired state and yields only what differs. Their pure
helpers (command builders, renderers, the pip planner, the driver package tables) are in util/."""
