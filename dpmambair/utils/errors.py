"""The one exception family of the package.

Every mistake a user can make (an option file, a checkpoint, a dataset folder, an inference argument) raises a
subclass of `DPMambaIRError` whose message is one line naming the file, key or argument at fault. Every entry
point (train.py, test.py, scripts/) catches this one class, prints the line and exits with status 2, so no
entry point has to know the list of subclasses. The subclasses keep a builtin base (`ValueError`, ...) as a
second parent so that callers that catch the builtin keep working.
"""

from __future__ import annotations


class DPMambaIRError(Exception):
    """A user-facing error: one line that names what is wrong and where."""


__all__ = ["DPMambaIRError"]
