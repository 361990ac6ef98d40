"""Pure helpers of the operations: command builders, renderers and planners (no host access)."""
