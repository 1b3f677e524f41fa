"""`verify --rollbacks changed|all|none` (issue 16): everyday runs prove again only the rollbacks whose inputs
changed, and carry the last proof's result for the others — never a verdict a replay would not give."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clitools import consolidated, run

VERIFICATION = "deploy/migrations/verification.json"


def tree(root: Path, wrong_first: bool = False) -> Path:
    """Two migrations, each with its legacy down script (the first one wrong when asked: it leaves the table)."""
    return consolidated(
        root,
        {
            "001_users.up.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
            "001_users.down.sql": "SELECT 1;\n" if wrong_first else "DROP TABLE users;\n",
            "002_posts.up.sql": "CREATE TABLE posts (id int PRIMARY KEY);\n",
            "002_posts.down.sql": "DROP TABLE posts;\n",
        },
    )


def rollbacks(root: Path, url: str, *options: str) -> tuple[int, dict[int, tuple[str, bool]]]:
    """verify's exit code, and per version its rollback result and whether it was carried from the last proof."""
    result = run("verify", "--database-url", url, *options, cwd=root)
    versions = json.loads((root / VERIFICATION).read_text())["versions"]
    return result.exit_code, {item["version"]: (item["rollback"], item["carried"]) for item in versions}


def test_a_second_run_carries_every_rollback_whose_files_did_not_change(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    assert rollbacks(root, service_url) == (0, {1: ("verified", False), 2: ("verified", False)})
    assert rollbacks(root, service_url) == (0, {1: ("verified", True), 2: ("verified", True)})


def test_rollbacks_all_proves_every_one_again(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    rollbacks(root, service_url)
    assert rollbacks(root, service_url, "--rollbacks", "all") == (0, {1: ("verified", False), 2: ("verified", False)})


def test_a_changed_up_file_is_proven_again_with_every_rollback_after_it(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    rollbacks(root, service_url)
    (root / "db" / "002_posts.up.sql").write_text("CREATE TABLE posts (id int PRIMARY KEY, title text);\n")
    assert run("apply", cwd=root).exit_code == 0
    assert rollbacks(root, service_url) == (0, {1: ("verified", True), 2: ("verified", False)})


def test_a_carried_wrong_rollback_stays_wrong(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path, wrong_first=True)
    assert rollbacks(root, service_url) == (1, {1: ("wrong", False), 2: ("verified", False)})
    result = run("verify", "--database-url", service_url, cwd=root)
    assert result.exit_code == 1 and "rollback 001_users: wrong (carried from the last proof" in result.output


def test_rollbacks_none_proves_none_and_never_says_proven(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    result = run("verify", "--database-url", service_url, "--rollbacks", "none", cwd=root)
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "NOT PROVEN: 2 rollbacks not proven (--rollbacks none)"
    versions = json.loads((root / VERIFICATION).read_text())["versions"]
    assert [item["rollback"] for item in versions] == ["skipped", "skipped"]


def test_a_changed_server_setup_proves_every_rollback_again(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    rollbacks(root, service_url)
    document = json.loads((root / VERIFICATION).read_text())
    document["setup"] = "another server"
    (root / VERIFICATION).write_text(json.dumps(document))
    assert rollbacks(root, service_url) == (0, {1: ("verified", False), 2: ("verified", False)})
