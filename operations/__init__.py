"""Idempotent pyinfra operations: each compares facts with the desired state and yields only what differs."""
