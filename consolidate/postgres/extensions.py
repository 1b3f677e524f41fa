"""Which extensions the migrations need, which of their functions they call, and honest stand-ins for them.

Pure: everything is read from parsed statements, nothing from a server. When the server a replay runs on lacks an
extension, the caller can ask for a stand-in: SQL that plays the extension's part with core PostgreSQL (13 or
later) for exactly the functions the migrations call. A stand-in must compute what the extension computes; a
function that cannot be reproduced that way (``crypt``, the ``pgp_*`` family, ``uuid_generate_v5`` which needs
SHA-1) has none, and the caller stops with one message naming the extension, the function, where it is called
and the ways out.

How a stand-in is applied (see ``consolidate/db/replay.py``): the replay rewrites no statement. When it reaches
a ``CREATE EXTENSION`` of a stood-in extension it runs the stand-in's SQL instead, in the schema the statement
names (``WITH SCHEMA``) or the current schema, as PostgreSQL would; every function a stand-in creates carries the
comment ``STAND_IN_MARK`` so that a later ``CREATE EXTENSION`` of it is a no-op and a ``DROP EXTENSION`` drops
exactly those functions. The replay records each stood-in statement as a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass

from consolidate.model import Action, Location, ParsedFile, Statement
from consolidate.postgres.positions import blank_comments, locate, statement_starts

# The functions of each extension that migrations call (column defaults, triggers, seed data). gen_random_uuid
# is pgcrypto's before PostgreSQL 13 and core since: a call is listed, and needs no stand-in.
KNOWN_FUNCTIONS: dict[str, frozenset[str]] = {
    "uuid-ossp": frozenset(
        {
            "uuid_generate_v1",
            "uuid_generate_v1mc",
            "uuid_generate_v3",
            "uuid_generate_v4",
            "uuid_generate_v5",
            "uuid_nil",
            "uuid_ns_dns",
            "uuid_ns_url",
            "uuid_ns_oid",
            "uuid_ns_x500",
        }
    ),
    "pgcrypto": frozenset(
        {
            "digest",
            "hmac",
            "crypt",
            "gen_salt",
            "gen_random_bytes",
            "gen_random_uuid",
            "encrypt",
            "decrypt",
            "encrypt_iv",
            "decrypt_iv",
            "armor",
            "dearmor",
            "pgp_armor_headers",
            "pgp_key_id",
            "pgp_sym_encrypt",
            "pgp_sym_encrypt_bytea",
            "pgp_sym_decrypt",
            "pgp_sym_decrypt_bytea",
            "pgp_pub_encrypt",
            "pgp_pub_encrypt_bytea",
            "pgp_pub_decrypt",
            "pgp_pub_decrypt_bytea",
        }
    ),
}
CORE_FUNCTIONS = frozenset({"gen_random_uuid"})  # part of PostgreSQL itself since 13
STAND_IN_MARK = "consolidate stand-in for extension {extension}"
# The extensions PostgreSQL's contrib ships, 13 to 18 (the list changes only with a major version): what the
# distributions' postgresql-contrib package installs (the PL transforms come with their language's package).
_CONTRIB_NAMES = """
    adminpack amcheck autoinc bloom bool_plperl btree_gin btree_gist citext cube dblink dict_int dict_xsyn
    earthdistance file_fdw fuzzystrmatch hstore hstore_plperl hstore_plpython3u insert_username intagg intarray
    isn jsonb_plperl jsonb_plpython3u lo ltree ltree_plpython3u moddatetime old_snapshot pageinspect
    pg_buffercache pg_freespacemap pg_logicalinspect pg_prewarm pg_stat_statements pg_surgery pg_trgm
    pg_visibility pg_walinspect pgcrypto pgrowlocks pgstattuple postgres_fdw refint seg sslinfo tablefunc tcn
    tsm_system_rows tsm_system_time unaccent uuid-ossp xml2
"""
CONTRIB = frozenset(_CONTRIB_NAMES.split())

_EXTENSION_OF = {function: extension for extension, functions in KNOWN_FUNCTIONS.items() for function in functions}
# An identifier, quoted or not (any non-ASCII character counts as a letter). Spelt with a negated ASCII class
# and case-sensitive groups rather than the range \x80-\U0010ffff: under re.I that range costs ~20 ms to compile
# per pattern, paid at every start-up of every command (the runner's included); it matches the same characters.
_NAME = r'"(?:[^"]|"")+"|(?-i:[A-Za-z_]|[^\x00-\x7f])(?-i:[\w$]|[^\x00-\x7f])*'
_CREATE = re.compile(rf"(?<![\w$])CREATE\s+EXTENSION\s+(?P<cond>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})", re.I)
_CREATE_HEAD = re.compile(rf"\s*CREATE\s+EXTENSION\s+(?P<cond>IF\s+NOT\s+EXISTS\s+)?(?P<names>{_NAME})", re.I)
_DROP_HEAD = re.compile(
    rf"\s*DROP\s+EXTENSION\s+(?P<cond>IF\s+EXISTS\s+)?(?P<names>(?:{_NAME})(?:\s*,\s*(?:{_NAME}))*)", re.I
)
_SCHEMA = re.compile(rf"(?<![\w$])SCHEMA\s+(?P<name>{_NAME})", re.I)
_CASCADE = re.compile(r"(?<![\w$])CASCADE(?![\w$])", re.I)
_CALL = re.compile(r"(?<![\w$\"])(?P<name>" + "|".join(sorted(_EXTENSION_OF, key=len, reverse=True)) + r")\s*\(", re.I)
# `FUNCTION digest(...)` in CREATE/DROP/ALTER/COMMENT ON/GRANT ON names a function, it does not call it.
_NAMED_NOT_CALLED = re.compile(
    r"(?<![\w$])(?:FUNCTION|PROCEDURE|ROUTINE)\s+(?:IF\s+EXISTS\s+)?(?:(?:\"(?:[^\"]|\"\")+\"|[\w$]+)\s*\.\s*)?\Z",
    re.I,
)
_UNAVAILABLE = (
    re.compile(r'extension "(?P<name>.+)" is not available'),  # PostgreSQL 15.? and later
    re.compile(r'could not open extension control file "(?:[^"]*/)?(?P<name>[^"/]+)\.control"'),  # before
)


@dataclass(frozen=True)
class ExtensionCommand:
    """A top-level CREATE EXTENSION or DROP EXTENSION statement, as far as a stand-in needs to know it."""

    action: Action  # Action.CREATE or Action.DROP
    names: tuple[str, ...]  # one for CREATE; DROP may name several
    conditional: bool  # IF NOT EXISTS / IF EXISTS
    schema: str | None = None  # CREATE ... [WITH] SCHEMA s
    cascade: bool = False


def needed_extensions(files: Iterable[ParsedFile]) -> dict[str, list[Location]]:
    """Every extension a CREATE EXTENSION names (also inside DO blocks), with where, in order of appearance."""
    needed: dict[str, list[Location]] = {}
    for statement, line, column in _statements(files):
        code = blank_comments(statement.text)
        for match in _CREATE.finditer(code):
            where = locate(statement.text, match.start() + 1, line, column)
            needed.setdefault(_identifier(match.group("name")), []).append(Location(statement.path, *where))
    return needed


def called_functions(files: Iterable[ParsedFile]) -> dict[str, dict[str, list[Location]]]:
    """extension → function → where it is called, for the functions of KNOWN_FUNCTIONS.

    Statement texts are searched token by token, function and DO bodies included, comments excluded. A function
    the migrations define themselves (a ``uuid_generate_v4`` shim, say) is theirs, not the extension's.
    """
    files = tuple(files)
    own = _defined_functions(files)
    called: dict[str, dict[str, list[Location]]] = {}
    for statement, line, column in _statements(files):
        for name, offset in _calls(statement.text):
            if name not in own:
                where = Location(statement.path, *locate(statement.text, offset + 1, line, column))
                called.setdefault(_EXTENSION_OF[name], {}).setdefault(name, []).append(where)
    return called


def extension_command(text: str) -> ExtensionCommand | None:
    """What a statement's text does to extensions, when it is a CREATE EXTENSION or DROP EXTENSION."""
    code = blank_comments(text)
    if (match := _CREATE_HEAD.match(code)) is not None:
        rest = code[match.end() :]
        schema = _SCHEMA.search(rest)
        return ExtensionCommand(
            Action.CREATE,
            (_identifier(match.group("names")),),
            bool(match.group("cond")),
            _identifier(schema.group("name")) if schema else None,
            bool(_CASCADE.search(rest)),
        )
    if (match := _DROP_HEAD.match(code)) is not None:
        names = tuple(_identifier(name) for name in re.findall(_NAME, match.group("names")))
        return ExtensionCommand(Action.DROP, names, bool(match.group("cond")), None, bool(_CASCADE.search(code)))
    return None


def unavailable_extension(message: str) -> str | None:
    """The extension a server error says it does not have (``CREATE EXTENSION`` of one it lacks), or None."""
    for pattern in _UNAVAILABLE:
        if (match := pattern.search(message)) is not None:
            return match.group("name")
    return None


def stand_in_sql(extension: str, called: Set[str], schema: str = "public") -> str | None:
    """SQL creating, in `schema`, core-PostgreSQL versions of the functions of `extension` that are `called`.

    "" when nothing is needed (the extension is never called, or only for what is core); None when a called
    function has no honest stand-in or the extension is not one consolidate knows (its types and operators
    could be used anywhere, so "never called" cannot be told).
    """
    if extension not in KNOWN_FUNCTIONS or stand_in_blockers(extension, called):
        return None
    needed = _with_requirements(called & KNOWN_FUNCTIONS[extension])
    mark = _literal(STAND_IN_MARK.format(extension=extension))
    return "".join(
        _create(definition, _quote(schema), mark) for name in sorted(needed) for definition in _STAND_INS[name]
    )


def stand_in_blockers(extension: str, called: Set[str]) -> tuple[str, ...]:
    """The called functions of `extension` that no stand-in can honestly replace, sorted."""
    functions = called & KNOWN_FUNCTIONS.get(extension, frozenset())
    return tuple(sorted(name for name in functions if name not in _STAND_INS and name not in CORE_FUNCTIONS))


def ways_out(extension: str) -> str:
    """What a user can do about a server that lacks `extension`: where to get it depends on whether it is one of
    PostgreSQL's contrib extensions (pgcrypto is, pgmq is not)."""
    elsewhere = (
        f"replay on a server that has {extension} (--database-url URL), or start the private server from "
        "PostgreSQL binaries that have it (--postgres-bin DIR)"
    )
    if extension in CONTRIB:
        return (
            f"{elsewhere}; {extension} is a contrib extension: install the distribution's postgresql-contrib package "
            "(on Debian and Ubuntu it comes with postgresql-NN)"
        )
    return (
        f"{elsewhere}; {extension} is not one of PostgreSQL's contrib extensions: install it from its own project; "
        "if production never had it, leave its statements out with `drop` decisions (`patches` in the mapping)"
    )


# --- reading statements ---------------------------------------------------------------------------------------


def _statements(files: Iterable[ParsedFile]) -> Iterator[tuple[Statement, int, int]]:
    for parsed in files:
        yield from statement_starts(parsed)


def _defined_functions(files: Iterable[ParsedFile]) -> set[str]:
    return {
        statement.target.name.split("(")[0]
        for parsed in files
        for statement in parsed.statements
        if statement.target is not None
        and statement.target.kind in ("function", "procedure")
        and statement.action in (Action.CREATE, Action.REPLACE)
    }


def _calls(text: str) -> Iterator[tuple[str, int]]:
    """(known function, offset) for every call of one in `text`."""
    code = blank_comments(text)
    for match in _CALL.finditer(code):
        if not _NAMED_NOT_CALLED.search(code, max(match.start() - 200, 0), match.start()):
            yield match.group("name").lower(), match.start()


def _identifier(text: str) -> str:
    """An identifier's name: quoted ones as written, others folded to lower case."""
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- stand-ins ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Definition:
    """One function a stand-in creates. `body` names the schema as @schema@ (for calls to other stand-ins)."""

    signature: str
    returns: str
    attributes: str
    body: str
    language: str = "sql"


def _create(definition: _Definition, schema: str, mark: str) -> str:
    name = f"{schema}.{definition.signature}"
    body = definition.body.replace("@schema@", schema)
    return (
        f"CREATE FUNCTION {name} RETURNS {definition.returns} LANGUAGE {definition.language} "
        f"{definition.attributes} AS $stand_in$\n{body}\n$stand_in$;\n"
        f"COMMENT ON FUNCTION {name} IS {mark};\n"
    )


def _with_requirements(names: Set[str]) -> set[str]:
    needed = set(names) - CORE_FUNCTIONS
    for name in names:
        needed |= _REQUIRES.get(name, frozenset())
    return needed


_PURE = "IMMUTABLE STRICT PARALLEL SAFE"
_RANDOM = "VOLATILE STRICT PARALLEL SAFE"


def _constant(name: str, value: str) -> tuple[_Definition, ...]:
    return (_Definition(f"{name}()", "uuid", _PURE, f"SELECT '{value}'::uuid"),)


# Time-based UUID (RFC 4122 version 1): 100 ns ticks since 1582-10-15, a random clock sequence (its variant
# bits come with gen_random_uuid's) and a random node with the multicast bit set — what uuid_generate_v1mc
# makes. uuid_generate_v1 puts the MAC address in the node instead: its stand-in keeps the random node, so
# values have the same version, layout and time order, and no schema can depend on the difference.
_V1MC = """SELECT (lpad(to_hex(t & 4294967295), 8, '0') || '-' || lpad(to_hex((t >> 32) & 65535), 4, '0')
    || '-1' || lpad(to_hex((t >> 48) & 4095), 3, '0') || '-' || substr(r, 17, 4) || '-'
    || lpad(to_hex(('x' || substr(r, 21, 2))::bit(8)::int | 1), 2, '0') || substr(r, 23, 10))::uuid
FROM (SELECT (extract(epoch FROM clock_timestamp()) * 10000000)::bigint + 122192928000000000 AS t,
             replace(gen_random_uuid()::text, '-', '') AS r) AS s"""

# Name-based UUID, MD5 (version 3): the hash of the namespace's 16 bytes and the name's bytes in the database
# encoding (what uuid-ossp hashes), with the version and variant bits set.
_V3 = """SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 48), 8, (get_byte(h, 8) & 63) | 128),
              'hex')::uuid
FROM (SELECT decode(md5(uuid_send(namespace) || convert_to(name, getdatabaseencoding())), 'hex') AS h) AS s"""

_DIGEST = """BEGIN
    CASE lower(type)
        WHEN 'md5' THEN RETURN decode(md5(data), 'hex');
        WHEN 'sha224' THEN RETURN sha224(data);
        WHEN 'sha256' THEN RETURN sha256(data);
        WHEN 'sha384' THEN RETURN sha384(data);
        WHEN 'sha512' THEN RETURN sha512(data);
        ELSE RAISE EXCEPTION 'the stand-in for pgcrypto''s digest() cannot compute "%"', type
            USING ERRCODE = '0A000',
                  HINT = 'core PostgreSQL has md5, sha224, sha256, sha384 and sha512; others need pgcrypto';
    END CASE;
END"""

# RFC 2104: H((K xor opad) || H((K xor ipad) || data)), K padded to the hash's block size (hashed first when
# longer): 64 bytes for md5, sha224 and sha256, 128 for sha384 and sha512.
_HMAC = """DECLARE
    block int := CASE WHEN lower(type) IN ('sha384', 'sha512') THEN 128 ELSE 64 END;
    k bytea := key;
    inner_pad bytea;
    outer_pad bytea;
BEGIN
    IF length(k) > block THEN
        k := @schema@.digest(k, type);
    END IF;
    k := k || decode(repeat('00', block - length(k)), 'hex');
    inner_pad := k;
    outer_pad := k;
    FOR i IN 0 .. block - 1 LOOP
        inner_pad := set_byte(inner_pad, i, get_byte(k, i) # 54);
        outer_pad := set_byte(outer_pad, i, get_byte(k, i) # 92);
    END LOOP;
    RETURN @schema@.digest(outer_pad || @schema@.digest(inner_pad || data, type), type);
END"""

# Cryptographically strong bytes from gen_random_uuid (pg_strong_random): 14 of its 16 bytes are random, the
# other two carry version and variant bits and are left out.
_RANDOM_BYTES = """DECLARE
    result bytea := '';
    r bytea;
BEGIN
    IF count < 1 OR count > 1024 THEN
        RAISE EXCEPTION 'Length not in range' USING ERRCODE = '39000';  -- as pgcrypto says it
    END IF;
    WHILE length(result) < count LOOP
        r := uuid_send(gen_random_uuid());
        result := result || substr(r, 1, 6) || substr(r, 8, 1) || substr(r, 10, 7);
    END LOOP;
    RETURN substr(result, 1, count);
END"""

_TEXT_BYTES = "convert_to({0}, getdatabaseencoding())"

_STAND_INS: dict[str, tuple[_Definition, ...]] = {
    "uuid_nil": _constant("uuid_nil", "00000000-0000-0000-0000-000000000000"),
    "uuid_ns_dns": _constant("uuid_ns_dns", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    "uuid_ns_url": _constant("uuid_ns_url", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
    "uuid_ns_oid": _constant("uuid_ns_oid", "6ba7b812-9dad-11d1-80b4-00c04fd430c8"),
    "uuid_ns_x500": _constant("uuid_ns_x500", "6ba7b814-9dad-11d1-80b4-00c04fd430c8"),
    "uuid_generate_v4": (_Definition("uuid_generate_v4()", "uuid", _RANDOM, "SELECT gen_random_uuid()"),),
    "uuid_generate_v1": (_Definition("uuid_generate_v1()", "uuid", _RANDOM, _V1MC),),
    "uuid_generate_v1mc": (_Definition("uuid_generate_v1mc()", "uuid", _RANDOM, _V1MC),),
    "uuid_generate_v3": (_Definition("uuid_generate_v3(namespace uuid, name text)", "uuid", _PURE, _V3),),
    "digest": (
        _Definition("digest(data bytea, type text)", "bytea", _PURE, _DIGEST, "plpgsql"),
        _Definition(
            "digest(data text, type text)",
            "bytea",
            _PURE,
            f"SELECT @schema@.digest({_TEXT_BYTES.format('data')}, type)",
        ),
    ),
    "hmac": (
        _Definition("hmac(data bytea, key bytea, type text)", "bytea", _PURE, _HMAC, "plpgsql"),
        _Definition(
            "hmac(data text, key text, type text)",
            "bytea",
            _PURE,
            f"SELECT @schema@.hmac({_TEXT_BYTES.format('data')}, {_TEXT_BYTES.format('key')}, type)",
        ),
    ),
    "gen_random_bytes": (_Definition("gen_random_bytes(count integer)", "bytea", _RANDOM, _RANDOM_BYTES, "plpgsql"),),
}
_REQUIRES: dict[str, frozenset[str]] = {"hmac": frozenset({"digest"})}
