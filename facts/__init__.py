"""READ: pyinfra facts about a workstation, and the plain functions that parse what they read.

Every fact here runs ONE remote command (pyinfra 3.10 has no fact cache: each `get_fact` is a
round trip), exits 0 whatever the machine looks like (a missing tool is data, not a failed host),
returns JSON-friendly data, and raises nothing but `FactProcessError`.
"""
