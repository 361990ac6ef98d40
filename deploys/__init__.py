"""Deploys: declare a desired state and compose the steps (run by pyinfra from the project root)."""
