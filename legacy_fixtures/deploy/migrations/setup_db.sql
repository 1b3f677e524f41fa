-- CasareRPA database bootstrap
--
-- Run ONCE, as a superuser, before the first deployment:
--     psql -U postgres -f deploy/migrations/setup_db.sql
-- then run the numbered migrations in versions/ as casare_app.
-- Change the password before running this in any shared environment.

CREATE ROLE casare_app WITH LOGIN PASSWORD 'change-me-before-deploying';

CREATE DATABASE casare_rpa
    OWNER casare_app
    ENCODING 'UTF8'
    TEMPLATE template0;

ALTER DATABASE casare_rpa SET timezone TO 'UTC';

GRANT ALL PRIVILEGES ON DATABASE casare_rpa TO casare_app;
