"""The one error the stacks package raises."""


class StackError(ValueError):
    """A stack cannot be resolved: unknown, inconsistent or unsupported input, or broken data.

    The message is ONE line that says what is wrong and what to change, because the CLI prints it
    as-is on stderr and the deploy stops with it before any host is touched.
    """

    def __init__(self, message: str):
        # Newlines would break the one-line contract of the CLI and of pyinfra's error output.
        super().__init__(" ".join(str(message).split()))
