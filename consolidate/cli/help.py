"""How every command's help reads: `-h` as well as `--help`, and flags shown without a `<bool>` beside them."""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

# Given to every Typer app: click passes it down to each subcommand's context.
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

_typed = TyperOption.display_type_rich


def _untyped_flags(self: TyperOption, ctx: Any) -> str | None:
    """A flag takes no value: its help line shows none (typer's rich help prints `<bool>`, issue 17 #3)."""
    return None if self.is_flag else _typed(self, ctx)


# typer has no setting for this; its plain (non-rich) help already leaves flags untyped.
TyperOption.display_type_rich = _untyped_flags  # type: ignore[method-assign]
