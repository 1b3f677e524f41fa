-- Owners and privileges results.dbdiff does not compare: schemas, functions and procedures, sequences, types and
-- domains (privileges and owner), single columns (privileges), tables and views (owner; dbdiff compares their
-- privileges). A default ACL (NULL) is spelled out with acldefault() and the entries are sorted, so that two ways
-- of writing the same privileges compare equal. Objects of extensions and of system schemas are left out.
-- Columns: kind, schema, identity (as shown), owning table (for the scope), owner (a column's: its table's),
-- privileges.
with objects as (
    select 'schema' as kind, n.nspname as schema, quote_ident(n.nspname) as identity, null::text as tab,
           n.nspowner as owner_oid, coalesce(n.nspacl, acldefault('n', n.nspowner)) as acl,
           'pg_catalog.pg_namespace'::regclass as classid, n.oid as objid
    from pg_catalog.pg_namespace n
    union all
    select case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end,
           n.nspname, p.oid::regprocedure::text, null,
           p.proowner, coalesce(p.proacl, acldefault('f', p.proowner)),
           'pg_catalog.pg_proc'::regclass, p.oid
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    union all
    select 'sequence', n.nspname, quote_ident(n.nspname) || '.' || quote_ident(c.relname),
           coalesce(owner.relname, c.relname),
           c.relowner, coalesce(c.relacl, acldefault('s', c.relowner)),
           'pg_catalog.pg_class'::regclass, c.oid
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    left join pg_catalog.pg_depend d
        on d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i')
        and d.refclassid = 'pg_catalog.pg_class'::regclass
    left join pg_catalog.pg_class owner on owner.oid = d.refobjid
    where c.relkind = 'S'
    union all
    select case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end,
           n.nspname, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname,
           c.relowner, null,
           'pg_catalog.pg_class'::regclass, c.oid
    from pg_catalog.pg_class c
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
    union all
    select case t.typtype when 'd' then 'domain' else 'type' end,
           n.nspname, t.oid::regtype::text, null,
           t.typowner, coalesce(t.typacl, acldefault('T', t.typowner)),
           'pg_catalog.pg_type'::regclass, t.oid
    from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    where t.typtype in ('d', 'e', 'r', 'm')
        or (t.typtype = 'c' and exists (
            select from pg_catalog.pg_class c where c.oid = t.typrelid and c.relkind = 'c'
        ))
    union all
    select 'column', n.nspname,
           quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname), c.relname,
           c.relowner, a.attacl,
           'pg_catalog.pg_class'::regclass, c.oid
    from pg_catalog.pg_attribute a
    join pg_catalog.pg_class c on c.oid = a.attrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where a.attnum > 0 and not a.attisdropped and a.attacl is not null and c.relkind in ('r', 'p', 'v', 'm', 'f')
)
select o.kind, o.schema, o.identity, o.tab,
       (select r.rolname from pg_catalog.pg_roles r where r.oid = o.owner_oid) as owner,
       coalesce((select string_agg(item::text, ',' order by item::text) from unnest(o.acl) as item), '') as privileges
from objects o
where o.schema not in ('pg_catalog', 'information_schema')
    and o.schema not like 'pg\_toast%'
    and o.schema not like 'pg\_temp\_%'
    and not exists (
        select
        from pg_catalog.pg_depend e
        where e.classid = o.classid and e.objid = o.objid and e.deptype = 'e'
    )
order by o.kind, o.identity;
