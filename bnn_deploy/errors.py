"""The one exception type the CLI turns into a one-line message.

Every failure a user can cause or fix (bad file, bad option, missing tool) is raised as
:class:`BnnDeployError` with a message that says what is wrong *and* what to do. Anything else is
a bug and is reported as such by the CLI.
"""


class BnnDeployError(Exception):
    """A user-facing error: ``str(err)`` is one line, ending with what to do about it."""
