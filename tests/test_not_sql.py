"""Sources consolidate cannot read are said aloud (issue 17 #5): other tools' code migrations, Flyway repeatables."""

from __future__ import annotations

from pathlib import Path

from consolidate.core.not_sql import not_sql
from consolidate.model import RawFile, Severity
from tests.clitools import run
from tests.test_draft import drafted, scanned, write_tree

ALEMBIC = '''"""add users"""
from alembic import op

revision = "1a2b3c"
down_revision = None


def upgrade():
    op.create_table("users")
'''
ALEMBIC_TYPED = 'revision: str = "4d5e"\ndown_revision: Union[str, None] = "1a2b3c"\n'
DJANGO = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    operations = []\n"
RAILS = "class CreateUsers < ActiveRecord::Migration[7.1]\n  def change\n  end\nend\n"


def raw(path: str, text: str) -> RawFile:
    return RawFile(path, text.encode())


def test_alembic_revisions_are_counted_per_folder_with_the_command_that_gives_their_sql() -> None:
    (finding,) = not_sql([raw("alembic/versions/1a2b_add.py", ALEMBIC), raw("alembic/versions/4d5e.py", ALEMBIC_TYPED)])
    assert finding.message.startswith("not SQL: 2 Python migrations (Alembic)")
    assert finding.location.path == "alembic/versions/1a2b_add.py" and finding.severity is Severity.WARNING
    assert "alembic upgrade --sql" in finding.hint


def test_django_and_rails_migrations_are_named_by_their_tool() -> None:
    findings = not_sql([raw("app/migrations/0001_initial.py", DJANGO), raw("db/migrate/20240101_users.rb", RAILS)])
    assert [finding.message.split(" here")[0] for finding in findings] == [
        "not SQL: 1 Python migration (Django)",
        "not SQL: 1 Ruby migration (Rails)",
    ]
    assert "sqlmigrate" in findings[0].hint


def test_python_files_that_are_no_migrations_are_left_alone() -> None:
    assert not_sql([raw("app/migrations/__init__.py", ""), raw("app/migrations/helpers.py", "revision = 1\n")]) == []


def test_plan_says_a_source_folder_holds_alembic_revisions_and_stays_clean(tmp_path: Path) -> None:
    write_tree(tmp_path, {"db/001_people.sql": "CREATE TABLE people (id int);\n", "db/1a2b_users.py": ALEMBIC})
    assert run("init", cwd=tmp_path).exit_code == 0
    result = run("plan", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "db/1a2b_users.py: warning: not SQL: 1 Python migration (Alembic)" in result.stderr


def test_a_flyway_repeatable_is_recognised_as_such() -> None:
    findings = scanned({"sql/R__views.sql": "CREATE OR REPLACE VIEW v AS SELECT 1;\n"}).findings
    assert [finding.code for finding in findings] == ["scan.repeatable"]


def test_init_places_flyway_repeatables_after_the_versioned_migrations_by_name(tmp_path: Path) -> None:
    files = {
        "sql/R__b_views.sql": "CREATE OR REPLACE VIEW b AS SELECT 1;\n",
        "sql/R__a_functions.sql": "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n",
        "sql/V2__orders.sql": "CREATE TABLE orders (id int);\n",
        "sql/V1__people.sql": "CREATE TABLE people (id int);\n",
        "sql/seed.sql": "CREATE TABLE seed (id int);\n",
    }
    names = [target["name"] for target in drafted(tmp_path, files)["migrations"]]
    assert names == ["people", "orders", "seed", "a_functions", "b_views"]
