"""Which PostgreSQL a private server starts from, and the reason the server line gives (issue 14, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate.db.installations import Installation, Production, pick

DECLARED = Production(15, "mapping.yaml:3")


def installation(root: Path, kind: str, major: str, extensions: tuple[str, ...] = ()) -> Installation:
    """Binaries of `major` whose extension folder holds `extensions` (only their .control files matter)."""
    folder = root / f"{kind}-{major}" / "extension"
    folder.mkdir(parents=True)
    for name in extensions:
        (folder / f"{name}.control").write_text("")
    return Installation(kind, root / f"{kind}-{major}" / "bin", folder, major)


@pytest.fixture
def machine(tmp_path: Path) -> list[Installation]:
    """The embedded 18 without pgcrypto, and a system 15 and 13 with it."""
    return [
        installation(tmp_path, "embedded", "18"),
        installation(tmp_path, "system", "15", ("pgcrypto",)),
        installation(tmp_path, "system", "13", ("pgcrypto", "pgmq")),
    ]


def test_the_declared_production_major_is_chosen_over_a_newer_one(machine: list[Installation]) -> None:
    choice = pick(machine, frozenset(), production=DECLARED)
    assert choice.installation.major == "15"
    assert choice.why == "the mapping declares PostgreSQL 15 (mapping.yaml:3)"


def test_a_declared_major_not_on_the_machine_is_said_with_what_that_risks(machine: list[Installation]) -> None:
    choice = pick(machine, frozenset(), production=Production(16, "mapping.yaml:3"))
    assert choice.installation.major == "18"
    assert choice.why.startswith("the mapping declares PostgreSQL 16 (mapping.yaml:3), which is not on this machine")
    assert "a newer major accepts syntax 16 rejects" in choice.why and "the newest PostgreSQL here" in choice.why


def test_without_a_declaration_the_newest_is_chosen_when_stand_ins_play_what_it_lacks(
    machine: list[Installation],
) -> None:
    choice = pick(machine, frozenset({"pgcrypto"}), standable=frozenset({"pgcrypto"}))
    assert (choice.installation.major, choice.why) == ("18", "the newest PostgreSQL here")


def test_an_older_server_is_chosen_for_an_extension_no_stand_in_can_play_and_says_so(
    machine: list[Installation],
) -> None:
    choice = pick(machine, frozenset({"pgcrypto"}))
    assert choice.installation.major == "15"
    assert "the newest PostgreSQL here with pgcrypto, which no stand-in can play" in choice.why
    assert "(embedded PostgreSQL 18 lacks it): syntax newer than 15 fails here" in choice.why


def test_the_newest_is_chosen_when_no_server_has_an_extension_and_the_reason_names_it(
    machine: list[Installation],
) -> None:
    choice = pick(machine, frozenset({"pg_partman"}))
    assert (choice.installation.major, choice.why) == ("18", "the newest PostgreSQL here; none here has pg_partman")


def test_at_one_major_the_installation_with_the_real_extension_is_preferred(tmp_path: Path) -> None:
    bare = installation(tmp_path, "embedded", "18")
    full = installation(tmp_path, "system", "18", ("pgcrypto",))
    choice = pick([bare, full], frozenset({"pgcrypto"}), standable=frozenset({"pgcrypto"}))
    assert choice.installation is full


def test_the_declared_major_with_the_extension_wins_among_several_of_that_major(tmp_path: Path) -> None:
    bare = installation(tmp_path, "embedded", "15")
    full = installation(tmp_path, "system", "15", ("pgmq",))
    assert pick([bare, full], frozenset({"pgmq"}), production=DECLARED).installation is full


def test_an_extension_none_has_does_not_keep_the_one_that_another_needs_from_being_chosen(
    machine: list[Installation],
) -> None:
    choice = pick(machine, frozenset({"pgcrypto", "pg_partman"}))
    assert choice.installation.major == "15"
    assert choice.why.endswith("syntax newer than 15 fails here; none here has pg_partman")
