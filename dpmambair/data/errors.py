"""The one exception type of the data layer.

It subclasses `OptionError` (itself a `ValueError`) so that `train.py` and `test.py`, which already turn an
`OptionError` into one printed line and a non-zero exit, stop a run on bad data *before* training starts
instead of printing a traceback. Every message is one line and names the file or folder at fault.
"""

from __future__ import annotations

from dpmambair.utils.options import OptionError


class DatasetError(OptionError):
    """A dataset cannot be built or read: missing folder, unpaired or undecodable file, size mismatch, ..."""
