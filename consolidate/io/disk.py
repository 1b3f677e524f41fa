"""An OS error at the disk boundary as the user's one line: the path, what the system said, exit 1.

A full disk (ENOSPC), a file-size limit (EFBIG), a name too long for the filesystem (ENAMETOOLONG) or a denied
permission are facts about the machine, not bugs: they are reported like any other problem, never as a
traceback. The writers are atomic, so the message can promise that nothing was changed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.model import Diagnostic, Location

# What to do about the errors a user can act on; any other error names the path and the system's words.
_REMEDIES = {
    errno.ENOSPC: "free space on that filesystem, then run the command again",
    errno.EDQUOT: "free space within your disk quota, then run the command again",
    errno.EFBIG: "a file is larger than this process may write (ulimit -f): raise the limit, then run again",
    errno.ENAMETOOLONG: "a name is longer than the filesystem allows (255 bytes): shorten the migration's name",
    errno.EACCES: "check the folder's permissions",
    errno.EPERM: "check the folder's permissions",
    errno.EROFS: "the filesystem is read-only: choose another output",
}


def disk_error(error: OSError, fallback: Path | str, unchanged: bool = True) -> ConsolidateError:
    """`error` (raised while reading or writing below `fallback`) as a ConsolidateError exiting 1."""
    path = os.fsdecode(error.filename) if error.filename is not None else str(fallback)
    reason = error.strerror or str(error)
    remedy = _REMEDIES.get(error.errno or 0, "")
    if unchanged:
        remedy = f"{remedy}; nothing was written" if remedy else "nothing was written"
    return ConsolidateError([Diagnostic("disk.os-error", reason, Location(path), remedy)], exit_code=EXIT_FAIL)
