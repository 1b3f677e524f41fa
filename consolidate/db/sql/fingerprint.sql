-- One row per object of the database's own schemas: (key, md5 of its definition), free of OIDs, so that two states
-- of one database can be compared in a single round trip (db/fingerprint.py says what the comparison is for).
--
-- It is meant to be at least as strict as db/diff.py's compare: every property compare looks at is here (table,
-- column, constraint, index, trigger, view, function, type, domain, enum, sequence, policy, extension, schema,
-- collation, owners and every ACL), and some it does not (comments, column order is NOT among them, default
-- privileges, rules, event triggers, and every user object's dependencies described by name). Stricter only costs
-- time: a difference here sends the caller to compare, which has the last word. Objects that belong to an extension
-- are left out, as compare leaves them out; the extension's version stands for them.
--
-- Each row also says which OIDs it hangs on (HITS: its object, the relation or type it belongs to, both ends of a
-- dependency), and a read can be limited to the rows that hang on given OIDs (WATCHED): db/fingerprint.py renders
-- both markers, and keeps a fingerprint up to date through a replay by reading again only what a version touched.
-- The CTEs are not materialized so that a limited read looks its rows up by OID instead of reading every catalog.
-- The schema _consolidate_watch and its event triggers are the watch's own (db/fingerprint.py), never the tree's.
with
nsp as not materialized (
    select oid, nspname
    from pg_namespace
    where nspname not in ('pg_catalog', 'information_schema')
        and nspname not like 'pg\_toast%'
        and nspname not like 'pg\_temp%'
        and nspname <> '_consolidate_watch'
),
member as not materialized (
    select classid, objid from pg_depend where deptype = 'e'
),
rel as not materialized (
    select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name, c.*
    from pg_class c
    join nsp n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
        and not exists (select from member m where m.classid = 'pg_class'::regclass and m.objid = c.oid)
)
select 'relation ' || r.name, md5(concat_ws('|',
    r.relkind, r.relpersistence, r.relrowsecurity, r.relforcerowsecurity, r.reloptions::text, r.relacl::text,
    pg_get_userbyid(r.relowner), r.relispartition, r.relreplident, pg_get_partkeydef(r.oid),
    pg_get_expr(r.relpartbound, r.oid), (select amname from pg_am where oid = r.relam),
    case when r.relkind in ('v', 'm') then pg_get_viewdef(r.oid) end,
    (select string_agg(p.inhparent::regclass::text, ',' order by p.inhseqno) from pg_inherits p where p.inhrelid = r.oid),
    (select concat_ws(',', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
     from pg_sequence s where s.seqrelid = r.oid)
)), HITS(r.oid)
from rel r
where WATCHED(r.oid)
union all
select 'column ' || r.name || '.' || quote_ident(a.attname), md5(concat_ws('|',
    format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
    a.attgenerated, (select collname from pg_collation where oid = a.attcollation), a.attacl::text, a.attislocal,
    a.attstorage  -- not attoptions: seen holding a value that differs with each creation (pg_attver)
)), HITS(r.oid)
from rel r
join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where WATCHED(r.oid)
union all
select 'constraint ' || coalesce(r.name, quote_ident(n.nspname) || '.' || quote_ident(t.typname)) || '.'
        || quote_ident(c.conname),
    md5(concat_ws('|', c.contype, pg_get_constraintdef(c.oid), c.condeferrable, c.condeferred, c.convalidated,
        c.connoinherit)), HITS(c.oid, c.conrelid, c.contypid)
from pg_constraint c
join nsp n on n.oid = c.connamespace
left join lateral (select * from rel where rel.oid = c.conrelid offset 0) r on true  -- one lookup, not every relation
left join pg_type t on t.oid = c.contypid
where (r.oid is not null or t.oid is not null) and WATCHED(c.oid, c.conrelid, c.contypid)
union all
select 'index ' || r.name, md5(concat_ws('|', pg_get_indexdef(i.indexrelid), i.indisclustered, i.indisreplident,
    i.indisvalid, r.reloptions::text)), HITS(i.indexrelid, i.indrelid)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join nsp n on n.oid = ic.relnamespace
cross join lateral (select quote_ident(n.nspname) || '.' || quote_ident(ic.relname) as name, ic.reloptions) r
where WATCHED(i.indexrelid, i.indrelid)
union all
select 'trigger ' || r.name || '.' || quote_ident(t.tgname), md5(concat_ws('|', pg_get_triggerdef(t.oid), t.tgenabled::text)),
    HITS(t.oid, t.tgrelid)
from pg_trigger t
join rel r on r.oid = t.tgrelid
where not t.tgisinternal and WATCHED(t.oid, t.tgrelid)
union all
select 'rule ' || r.name || '.' || quote_ident(w.rulename), md5(concat_ws('|', pg_get_ruledef(w.oid), w.ev_enabled)),
    HITS(w.oid, w.ev_class)
from pg_rewrite w
join rel r on r.oid = w.ev_class
where w.rulename <> '_RETURN' and WATCHED(w.oid, w.ev_class)
union all
select 'policy ' || r.name || '.' || quote_ident(p.polname), md5(concat_ws('|',
    p.polcmd, p.polpermissive, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
    (select string_agg(case when role = 0 then 'public' else pg_get_userbyid(role) end, ',' order by 1)
     from unnest(p.polroles) as role)
)), HITS(p.oid, p.polrelid)
from pg_policy p
join rel r on r.oid = p.polrelid
where WATCHED(p.oid, p.polrelid)
union all
select 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname)
        || '(' || pg_get_function_identity_arguments(p.oid) || ')',
    md5(concat_ws('|',
        p.prokind, p.prosrc, p.probin, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
        p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel, p.proconfig::text,
        (select lanname from pg_language where oid = p.prolang), pg_get_userbyid(p.proowner), p.proacl::text,
        p.procost, p.prorows,
        (select concat_ws(',', a.aggtransfn::regproc, a.aggfinalfn::regproc, a.aggtranstype::regtype,
            a.agginitval, a.aggkind, a.aggsortop::regoperator)
         from pg_aggregate a where a.aggfnoid = p.oid)
    )), HITS(p.oid)
from pg_proc p
join nsp n on n.oid = p.pronamespace
where not exists (select from member m where m.classid = 'pg_proc'::regclass and m.objid = p.oid) and WATCHED(p.oid)
union all
select 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname), md5(concat_ws('|',
    t.typtype, pg_get_userbyid(t.typowner), t.typacl::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
    t.typdefault, (select collname from pg_collation where oid = t.typcollation),
    (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid),
    (select concat_ws(',', g.rngsubtype::regtype, g.rngsubopc, g.rngcanonical::regproc, g.rngsubdiff::regproc)
     from pg_range g where g.rngtypid = t.oid)
)), HITS(t.oid)
from pg_type t
join nsp n on n.oid = t.typnamespace
where t.typtype in ('b', 'd', 'e', 'r', 'm', 'p')
    and not exists (select from member m where m.classid = 'pg_type'::regclass and m.objid = t.oid)
    and WATCHED(t.oid)
union all
select 'schema ' || quote_ident(n.nspname), md5(concat_ws('|', pg_get_userbyid(s.nspowner), s.nspacl::text)),
    HITS(n.oid)
from nsp n
join pg_namespace s on s.oid = n.oid
where WATCHED(n.oid)
union all
select 'extension ' || quote_ident(e.extname), md5(concat_ws('|', e.extversion, e.extnamespace::regnamespace, e.extconfig::text)),
    HITS(e.oid)
from pg_extension e
where WATCHED(e.oid)
union all
select 'collation ' || quote_ident(n.nspname) || '.' || quote_ident(c.collname), md5(concat_ws('|',
    c.collprovider, c.collisdeterministic, c.collencoding, c.collcollate, c.collctype)), HITS(c.oid)
from pg_collation c
join nsp n on n.oid = c.collnamespace
where WATCHED(c.oid)
union all
select 'default privileges ' || pg_get_userbyid(d.defaclrole) || ' ' || coalesce(d.defaclnamespace::regnamespace::text, '')
        || ' ' || d.defaclobjtype::text,
    md5(d.defaclacl::text), HITS(d.oid)
from pg_default_acl d
where WATCHED(d.oid)
union all
select 'event trigger ' || quote_ident(e.evtname), md5(concat_ws('|', e.evtevent, e.evtfoid::regproc, e.evtenabled,
    e.evttags::text)), HITS(e.oid)
from pg_event_trigger e
where e.evtname not like '\_consolidate\_watch%' and WATCHED(e.oid)
union all
-- What compare would name by another route, or not at all: every description and every dependency of a user
-- object (casts, operators, statistics, publications, foreign servers, ...), by name.
select 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid), md5(d.description), HITS(d.objoid)
from pg_description d
where d.objoid >= 16384 and WATCHED(d.objoid)
union all
select 'depends ' || dependency, kind, hits
from (
    select pg_describe_object(d.classid, d.objid, d.objsubid) || ' on '
            || pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) as dependency,
        d.deptype::text as kind, HITS(d.objid, d.refobjid) as hits
    from DEPENDENCIES(d)
    where d.objid >= 16384 and d.deptype <> 'e'
        and not exists (select from member m where m.classid = d.classid and m.objid = d.objid)
        -- A foreign key's internal triggers are named for their OID (RI_ConstraintTrigger_a_16400): a key dropped
        -- and added again would differ by name only. The constraint's own entry stands for them.
        and not exists (
            select from pg_trigger t
            where d.classid = 'pg_trigger'::regclass and t.oid = d.objid and t.tgisinternal
        )
        -- the watch's own function and event triggers (an event trigger's function is in its section)
        and d.classid <> 'pg_event_trigger'::regclass
        and not exists (
            select from pg_proc p join pg_namespace w on w.oid = p.pronamespace
            where p.oid = d.objid and w.nspname = '_consolidate_watch'
        )
    offset 0  -- describe only the dependencies kept, not every one the scan passes
) as described
-- A TOAST table is named for its table's OID, which a table dropped and created again changes.
where dependency not like '%pg\_toast.%'
