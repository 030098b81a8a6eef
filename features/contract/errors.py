"""The base of every error a user can fix (a bad file, a missing snapshot, no champion yet).

Entry points catch `FleetcastError` and answer with its message in one line: the CLI with
exit code 1. Anything else is a bug and keeps its traceback.
"""


class FleetcastError(Exception):
    """An error whose message tells the user what to fix; never a bug."""
