"""The one exception the bundle tool raises for bad input or an unreachable source."""


class BundleError(Exception):
    """Bad input, an unreachable source or a failed verification.

    The message is ONE line that says what is wrong and what to change; the CLI prints it
    and exits with status 2.
    """
