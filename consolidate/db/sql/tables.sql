-- One row per column of every table whose rows `compare` hashes, with why a column is left out of the hash.
--
-- Tables: ordinary tables and partition leaves (relkind 'r', hashed) in every non-system schema, plus partitioned
-- parents (relkind 'p', never hashed: they hold no rows themselves) because foreign keys may reference them.
-- Tables that belong to an extension are skipped: their contents come with the extension, not with a migration.
--
-- reason: why two replays of the same migrations may legitimately store different values in the column —
--   'identity'  GENERATED … AS IDENTITY;
--   'generated' GENERATED ALWAYS AS (…) STORED (computed, possibly from a left-out column);
--   'default'   the default (the column's own, else its domain's) calls a function that is not IMMUTABLE
--               (nextval of a serial, gen_random_uuid(), now(), clock_timestamp(), …) or is a SQL value
--               function (CURRENT_TIMESTAMP, CURRENT_USER, …). Built-in functions are pinned, so pg_depend does
--               not record them: the default's node tree is searched for function ids instead;
--   'trigger'   a BEFORE INSERT/UPDATE row trigger's function assigns it (`NEW.col :=` / `NEW.col =` in its
--               source): a hash chain or a timestamp a trigger computes differs between replays like a default.
-- refs: the (schema, table, column) each foreign key of the table makes this column point at; a column pointing
--   at a left-out column is left out too (the caller follows such chains).
select
    n.nspname as schema,
    c.relname as "table",
    a.attname as "column",
    c.relkind = 'r' as hashed,
    case
        when a.attidentity <> '' then 'identity'
        when a.attgenerated <> '' then 'generated'
        when (
            select tree.text like '%{SQLVALUEFUNCTION %'
                or exists (
                    select
                    from regexp_matches(tree.text, ':[a-z]*funcid (\d+)', 'g') as found (ids)
                    join pg_catalog.pg_proc p on p.oid = found.ids[1]::oid
                    where p.provolatile <> 'i'
                )
            from (select coalesce(ad.adbin, t.typdefaultbin)::text as text) as tree
        ) then 'default'
        when exists (
            select
            from pg_catalog.pg_trigger tg
            join pg_catalog.pg_proc tp on tp.oid = tg.tgfoid
            where tg.tgrelid = c.oid
                and not tg.tgisinternal
                and tg.tgtype & 3 = 3          -- ROW and BEFORE
                and tg.tgtype & 20 <> 0        -- INSERT or UPDATE
                and tp.prosrc ~* ('new\.' || quote_ident(a.attname) || '\s*:?=')
        ) then 'trigger'
    end as reason,
    coalesce(
        (
            select json_agg(json_build_array(rn.nspname, rc.relname, ra.attname) order by f.conname)
            from pg_catalog.pg_constraint f
            cross join lateral unnest(f.conkey, f.confkey) as k (col, refcol)
            join pg_catalog.pg_class rc on rc.oid = f.confrelid
            join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
            join pg_catalog.pg_attribute ra on ra.attrelid = f.confrelid and ra.attnum = k.refcol
            where f.conrelid = c.oid and f.contype = 'f' and k.col = a.attnum
        ),
        '[]'
    ) as refs
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_catalog.pg_type t on t.oid = a.atttypid
left join pg_catalog.pg_attrdef ad on ad.adrelid = c.oid and ad.adnum = a.attnum
where c.relkind in ('r', 'p')
    and n.nspname not in ('pg_catalog', 'information_schema')
    and n.nspname not like 'pg\_toast%'
    and n.nspname not like 'pg\_temp\_%'
    and not exists (
        select
        from pg_catalog.pg_depend e
        where e.classid = 'pg_catalog.pg_class'::regclass and e.objid = c.oid and e.deptype = 'e'
    )
order by n.nspname, c.relname, a.attnum;
