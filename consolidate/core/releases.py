"""Release folders: one folder per schema version holding the files of that release (`versioned/v1.7/x.sql`).

Temporal's and Cadence's schema tools keep their SQL this way, with a `manifest.json` per folder that lists the
release's files in the order they run (`SchemaUpdateCqlFiles`). The file names carry no number: the folder is the
version, the manifest the order within it; a file the manifest does not list is never run (a release may list
none, when a later release's combined file does its work).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

MANIFEST_NAME = "manifest.json"
_RELEASE = re.compile(r"[vV]?(\d+(?:\.\d+)*)\Z", re.ASCII)
_FILES_KEY = "SchemaUpdateCqlFiles"  # the key's name says CQL: the tool began with Cassandra


def release_version(path: str) -> str | None:
    """The version a release folder gives a file in it ("1.7" for `versioned/v1.7/x.sql`), or None."""
    parent = PurePosixPath(path).parent
    match = _RELEASE.match(parent.name) if parent.name else None
    return match.group(1) if match is not None else None


def manifest_files(text: str) -> list[str] | None:
    """The file names a manifest lists in run order (maybe none: `"AllowNoCqlFiles": true`); None when the text
    is no such manifest."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    files = document.get(_FILES_KEY) if isinstance(document, dict) else None
    return [name for name in files if isinstance(name, str)] if isinstance(files, list) else None
