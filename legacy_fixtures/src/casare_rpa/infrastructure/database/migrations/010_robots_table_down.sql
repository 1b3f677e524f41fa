-- Rollback: 010_robots_table
-- Reverses 010_robots_table.sql, in reverse order (the table comment goes with the table).

DROP INDEX IF EXISTS ix_robots_hostname;
DROP INDEX IF EXISTS ix_robots_status;

DROP TABLE IF EXISTS robots;
