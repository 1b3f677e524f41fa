-- Every domain in a non-system schema with what results.dbdiff does not compare (it compares no domain at all):
-- base type, collation, default, NOT NULL and each constraint as (name, definition).
-- Domains that belong to an extension are skipped: the extension comparison covers them.
select
    n.nspname as schema,
    t.typname as domain,
    pg_catalog.format_type(t.typbasetype, t.typtypmod) as base_type,
    (
        select co.collname
        from pg_catalog.pg_collation co
        where co.oid = t.typcollation and t.typcollation <> bt.typcollation
    ) as collation,
    t.typdefault as "default",
    t.typnotnull as not_null,
    coalesce(
        (
            select json_agg(json_build_array(con.conname, pg_catalog.pg_get_constraintdef(con.oid)) order by con.conname)
            from pg_catalog.pg_constraint con
            where con.contypid = t.oid
        ),
        '[]'
    ) as constraints
from pg_catalog.pg_type t
join pg_catalog.pg_namespace n on n.oid = t.typnamespace
join pg_catalog.pg_type bt on bt.oid = t.typbasetype
where t.typtype = 'd'
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname not like 'pg\_toast%'
    and n.nspname not like 'pg\_temp\_%'
    and not exists (
        select
        from pg_catalog.pg_depend e
        where e.classid = 'pg_catalog.pg_type'::regclass and e.objid = t.oid and e.deptype = 'e'
    )
order by n.nspname, t.typname;
