"""Canonical trees written for the runner's tests, and the refusal a call ends in."""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate.errors import ConsolidateError


def tree(root: Path, versions: dict[str, str], downs: dict[str, str] | None = None) -> Path:
    """A canonical tree: versions/<name>.sql and down/<name>_down.sql."""
    (root / "versions").mkdir(parents=True, exist_ok=True)
    (root / "down").mkdir(exist_ok=True)
    for name, text in versions.items():
        (root / "versions" / f"{name}.sql").write_text(text)
    for name, text in (downs or {}).items():
        (root / "down" / f"{name}_down.sql").write_text(text)
    return root


def refusal(call: object, *args: object, **kwargs: object) -> ConsolidateError:
    """The ConsolidateError `call(*args, **kwargs)` raises (the test fails if it raises none)."""
    with pytest.raises(ConsolidateError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value
