"""Read and validate mapping.yaml (format version 1; the reference is docs/mapping.md).

`parse_mapping` turns the text into a `Mapping` or raises one `ConsolidateError` carrying every problem, each at
the line of the offending key or value. `check_tree` and `check_coverage` compare a valid mapping with what was
read from disk and scanned; they return diagnostics instead of raising, so the caller can merge them with others.

The YAML is composed, not loaded: nodes keep their line, which plain `yaml.safe_load` would throw away.
"""

from __future__ import annotations

import codecs
import difflib
import itertools
import posixpath
import re
from collections.abc import Iterable
from collections.abc import Mapping as Lookup
from dataclasses import dataclass, field
from typing import NamedTuple

import yaml
from sqlglot.dialects.dialect import Dialect
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from consolidate.core.lines import Lines
from consolidate.core.naming import normalise, parse_name
from consolidate.errors import ConsolidateError
from consolidate.model import (
    Acceptance,
    Decision,
    Diagnostic,
    Direction,
    Exclusion,
    Group,
    Location,
    Mapping,
    Patch,
    Resolution,
    ScanResult,
    SourceTree,
    Target,
)

# libyaml's composer keeps the same line marks and is ~20x faster: a mapping for thousands of files is normal.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FORMAT_VERSION = 1
DEFAULT_DIALECT = "postgres"
DEFAULT_WIDTH = 3
MAX_WIDTH = 9

# Object kinds as the plan prints them (ObjectRef.kind), plus kinds a platform may provide. Longest match wins,
# so "materialized view x" is a materialized view, not a "materialized" of "view x".
KINDS = frozenset(
    {
        "table", "view", "materialized view", "index", "sequence", "function", "procedure", "aggregate",
        "trigger", "event trigger", "policy", "rule", "type", "domain", "extension", "schema", "role",
        "publication", "subscription", "language", "foreign table", "server", "foreign data wrapper",
        "collation", "operator", "cast", "statistics", "conversion", "text search configuration",
    }
)  # fmt: skip
_MAX_KIND_WORDS = max(len(kind.split()) for kind in KINDS)

MIN_MAJOR, MAX_MAJOR = 10, 99  # majors are one number since PostgreSQL 10
_NAME = re.compile(r"[a-z0-9_]+")
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"

# Keys of each section: name -> required. `reason` is checked by its entries, for a clearer message.
_TOP = {
    "version": True, "dialect": False, "root": True, "output": True, "width": False, "sources": True,
    "provided": False, "prelude": False, "groups": False, "migrations": True, "exclude": False,
    "resolutions": False, "accept": False, "patches": False, "postgres": False,
}  # fmt: skip
_MIGRATION = {"version": True, "name": True, "description": False, "sources": True}
_EXCLUDE = {"path": True, "reason": False}
_SOURCE = {"path": True, "encoding": False}
_RESOLUTION = {"object": True, "decision": True, "reason": False}
_GROUP = {"title": True, "versions": True}
_ACCEPT = {"finding": True, "at": True, "reason": False}
_PATCH = {"file": True, "line": True, "sql": False, "drop": False, "reason": False}
_FINDING_CODE = re.compile(r"[a-z]+\.[a-z-]+")
# PostgreSQL's verdict, not the plan's: never false (a psql meta-command, kept, is a syntax error in its version).
_CERTAIN = frozenset({"sql.syntax", "sql.tokenize", "sql.meta-command"})
_AT = re.compile(r"(?P<path>.+?)(?::(?P<line>[0-9]+))?(?::[0-9]+)?")
_EXAMPLES = {
    "version": "1", "root": "legacy", "output": "deploy/migrations", "sources": "[db/migrations]",
    "migrations": "[{version: 1, name: initial_schema, sources: [db/migrations/001_init.sql]}]",
    "name": "initial_schema", "path": "db/migrations/setup.sql", "object": "table robots",
    "decision": "keep-first", "title": "Core Migrations", "versions": "[1, 4]",
    "finding": "plan.ordering", "encoding": "latin-1", "at": "db/migrations/003_views.sql:12",
    "file": "db/migrations/003_events.sql", "line": "19",
}  # fmt: skip
_UNMAPPED_HINT = "map it into a target's sources or add it to exclude with a reason"
_START = "start from the example in docs/mapping.md"


def _down_mapped(path: str, location: Location) -> Diagnostic:
    hint = "list only up files: each down file is paired with its up file automatically"
    return Diagnostic("mapping.down-file-mapped", f"'{path}' is a down (rollback) file", location, hint)


class _Field(NamedTuple):
    key: Node
    value: Node


@dataclass
class _Entry:
    """One `migrations` entry as read, valid or not, so cross-checks see every version, name and source."""

    location: Location
    version: tuple[int, Location] | None = None
    name: tuple[str, Location] | None = None
    description: str = ""
    sources: list[tuple[str, Location]] = field(default_factory=list)


class _Reader:
    """Turns YAML nodes into values, recording every problem at the line of the node that caused it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Diagnostic] = []
        self.lines: dict[str, int] = {}  # every path read by `relative_path`: first line naming it
        self.prelude: tuple[str, int] | None = None  # the `prelude` path and its line, once read
        self._constructor = SafeConstructor()

    def at(self, node: Node) -> Location:
        return Location(self.path, node.start_mark.line + 1)

    def report(self, code: str, message: str, where: Node | Location, hint: str = "") -> None:
        location = where if isinstance(where, Location) else self.at(where)
        self.problems.append(Diagnostic(code, message, location, hint))

    def compose(self, text: str) -> Node | None:
        """The document's root node, or None after reporting why there is none."""
        try:
            document = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError as error:
            self.problems.append(_yaml_problem(self.path, text, error))
            return None
        if document is None:
            self.report("mapping.not-a-mapping", "the mapping file is empty", Location(self.path, 1), _START)
        return document

    def fields(self, node: Node, keys: dict[str, bool], what: str) -> dict[str, _Field] | None:
        """The known keys of a YAML mapping; unknown, repeated and missing keys are reported."""
        if not isinstance(node, MappingNode):
            self.wrong_type(node, what, "a mapping of keys")
            return None
        self._check_repeated_keys(node, what)
        if not self._merge(node):
            return None
        found = {key.value: _Field(key, value) for key, value in node.value if self._known(key, keys, what)}
        for key, required in keys.items():
            if required and key not in found:
                example = _EXAMPLES.get(key, "…")
                self.report("mapping.missing-key", f"{what} has no '{key}'", node, f"add '{key}: {example}'")
        return found

    def _check_repeated_keys(self, node: MappingNode, what: str) -> None:
        first: dict[str, int] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = self.at(key).line or 0
            if key.value in first:
                message = f"'{key.value}' is given twice in {what} (first at line {first[key.value]})"
                self.report("mapping.duplicate-key", message, key, "keep one: YAML would silently use the last")
            first.setdefault(key.value, line)

    def _merge(self, node: MappingNode) -> bool:
        # `<<: *defaults` is plain YAML; resolve it here so merged keys are checked like written ones.
        try:
            self._constructor.flatten_mapping(node)
        except yaml.YAMLError as error:
            self.problems.append(_yaml_problem(self.path, "", error))
            return False
        return True

    def _known(self, key: Node, keys: dict[str, bool], what: str) -> bool:
        if isinstance(key, ScalarNode) and key.value in keys:
            return True
        name = key.value if isinstance(key, ScalarNode) else "a complex key"
        hint = _did_you_mean(str(name), keys) or f"allowed keys: {', '.join(keys)}"
        self.report("mapping.unknown-key", f"unknown key '{name}' in {what}", key, hint)
        return False

    def wrong_type(self, node: Node, what: str, expected: str) -> None:
        message = f"{what} must be {expected}, not {_describe(node)}"
        self.report("mapping.wrong-type", message, node, f"write {what} as {expected}")

    def text(self, node: Node, what: str, required: bool = True) -> str | None:
        """A scalar's text as written (`010` stays `010`); None (reported if required) when null or blank."""
        if not isinstance(node, ScalarNode):
            self.wrong_type(node, what, "a text")
            return None
        value = "" if node.tag == _NULL else str(node.value).strip()
        if not value and required:
            self.report("mapping.empty-value", f"{what} is empty", node, f"give {what} a value")
        return value or None

    def integer(self, node: Node, what: str) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.wrong_type(node, what, "an integer")
            return None
        value = self._constructor.construct_object(node)
        return value if isinstance(value, int) else None

    def value(self, node: ScalarNode) -> object:
        """The value YAML gives a scalar (True for `true`, `yes`, `on`)."""
        return self._constructor.construct_object(node)

    def items(self, node: Node, what: str, required: bool = True) -> list[Node]:
        """A sequence's items; an empty list when it is not one (reported) or null."""
        if isinstance(node, ScalarNode) and node.tag == _NULL:
            items: list[Node] = []
        elif isinstance(node, SequenceNode):
            items = list(node.value)
        else:
            self.wrong_type(node, what, "a list")
            return []
        if not items and required:
            self.report("mapping.empty-value", f"{what} lists nothing", node, f"list at least one item in {what}")
        return items

    def relative_path(self, node: Node, what: str) -> str | None:
        """A path below root, normalised to posix without trailing slash; None when it may leave root."""
        raw = self.text(node, what)
        if raw is None:
            return None
        problem = _path_problem(raw)
        if problem is not None:
            self.report(*problem[:2], node, problem[2])
            return None
        path = posixpath.normpath(raw)
        self.lines.setdefault(path, self.at(node).line or 0)
        return path

    def base_path(self, node: Node, what: str) -> str | None:
        """A folder relative to the mapping file: may be absolute or go up, but must use forward slashes."""
        raw = self.text(node, what)
        if raw is not None and "\\" in raw:
            self.report("mapping.bad-path", f"{what} '{raw}' contains a backslash", node, _slashes(raw))
            return None
        return None if raw is None else posixpath.normpath(raw)


def _yaml_problem(path: str, text: str, error: yaml.YAMLError) -> Diagnostic:
    """yaml's own message at yaml's own line and column."""
    hint = "fix the YAML here: indent with spaces, and quote values that contain ': ' or start with '*&!%@`'"
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        parts = (getattr(error, "context", None), getattr(error, "problem", None))
        problem = ", ".join(part for part in parts if part) or str(error)
        location = Location(path, mark.line + 1, mark.column + 1)
        return Diagnostic("mapping.invalid-yaml", f"invalid YAML: {problem}", location, hint)
    position = getattr(error, "position", 0)  # ReaderError (control characters) knows only an offset
    line = Lines(text).line(position)
    return Diagnostic("mapping.invalid-yaml", f"invalid YAML: {error}", Location(path, line), hint)


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    if node.tag in (_INT, _BOOL, "tag:yaml.org,2002:float"):
        return str(node.value)
    return f"the text '{node.value}'"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _slashes(raw: str) -> str:
    fixed = raw.replace("\\", "/")
    return f"use forward slashes: '{fixed}'"


def _path_problem(raw: str) -> tuple[str, str, str] | None:
    """Why a path relative to root is unusable (code, message, hint), judged from its text alone."""
    if "\\" in raw:
        return "mapping.bad-path", f"'{raw}' contains a backslash", _slashes(raw)
    if raw.startswith("/") or re.match(r"[A-Za-z]:", raw):
        hint = "write it relative to root, e.g. 'db/migrations/001_init.sql'"
        return "mapping.escapes-root", f"'{raw}' is absolute; paths are relative to root", hint
    if ".." in raw.split("/"):
        hint = "move root up so that it contains this path, and write the path below it"
        return "mapping.escapes-root", f"'{raw}' leaves root through '..'", hint
    return None


# --- parse_object ------------------------------------------------------------------------------------------


def parse_object(text: str) -> tuple[str, str] | None:
    """Split an object as the plan prints it into (kind, rest); None when it does not start with a known kind.

    >>> parse_object("materialized view reports")
    ('materialized view', 'reports')
    >>> parse_object("trigger trg on robots")
    ('trigger', 'trg on robots')

    Whitespace runs are collapsed and the kind is lower-cased; the rest is kept as written.
    """
    words = text.split()
    for size in range(min(_MAX_KIND_WORDS, len(words) - 1), 0, -1):
        kind = " ".join(words[:size]).lower()
        if kind in KINDS:
            return kind, " ".join(words[size:])
    return None


def _object(reader: _Reader, node: Node, what: str) -> str | None:
    """An object string normalised to 'kind rest', or None after reporting why it is not one."""
    text = reader.text(node, what)
    if text is None:
        return None
    parsed = parse_object(text)
    if parsed is None:
        first = text.split()[0].lower()
        hint = _did_you_mean(first, KINDS) or "write '<kind> <name>', e.g. 'table robots' or 'function f(integer)'"
        reader.report("mapping.bad-object", f"'{text}' does not look like '<kind> <name>'", node, hint)
        return None
    return f"{parsed[0]} {parsed[1]}"


# --- parse_mapping -----------------------------------------------------------------------------------------


def parse_mapping(text: str, path: str, base: str) -> Mapping:
    """Validate mapping.yaml text; `path` is how the file is shown to the user, `base` the folder holding it.

    Raises ConsolidateError with every problem found, sorted by line.
    """
    return read_mapping(text, path, base).mapping


@dataclass(frozen=True)
class ReadMapping:
    """A valid mapping with what `source_lines` and `prelude_of` would give for the same text."""

    mapping: Mapping
    lines: dict[str, int]
    prelude: tuple[str, int] | None


def read_mapping(text: str, path: str, base: str) -> ReadMapping:
    """`parse_mapping`, `source_lines` and `prelude_of` in one reading: the YAML is composed once.

    Raises ConsolidateError as `parse_mapping` does.
    """
    reader = _Reader(path)
    document = reader.compose(text)
    mapping = _read_mapping(reader, document, base) if document is not None else None
    if reader.problems or mapping is None:
        raise ConsolidateError(_sorted(reader.problems))
    return ReadMapping(mapping, reader.lines, reader.prelude)


def source_lines(text: str) -> dict[str, int]:
    """Line of the first entry naming each path below root (source folders, mapped sources, excludes).

    Paths are normalised as in `parse_mapping`. Feed the result to `check_tree` / `check_coverage` so their
    diagnostics point at the exact line; invalid text gives whatever could be read (possibly nothing).
    """
    reader = _Reader("")
    document = reader.compose(text)
    if document is not None:
        _read_mapping(reader, document, "")
    return reader.lines


def prelude_of(text: str) -> tuple[str, int] | None:
    """The `prelude` file (relative to the mapping file's folder, normalised like `root`) and its line.

    None when the key is absent or its value is unusable; `parse_mapping` reports why for the same text.
    """
    reader = _Reader("")
    document = reader.compose(text)
    if not isinstance(document, MappingNode):
        return None
    top = reader.fields(document, _TOP, "the mapping file")
    found = top.get("prelude") if top else None
    path = _prelude(reader, found)
    if found is None or path is None:
        return None
    return path, reader.at(found.value).line or 1


def _read_mapping(reader: _Reader, document: Node, base: str) -> Mapping | None:
    if not isinstance(document, MappingNode):
        message = f"the mapping file must be a mapping of keys (version, root, …), not {_describe(document)}"
        reader.report("mapping.not-a-mapping", message, document, _START)
        return None
    top = reader.fields(document, _TOP, "the mapping file")
    return None if top is None else _build(reader, top, base)


def _build(reader: _Reader, top: dict[str, _Field], base: str) -> Mapping | None:
    version = _format_version(reader, top.get("version"))
    dialect = _dialect(reader, top.get("dialect"))
    root = _base_folder(reader, top.get("root"), "'root'")
    output = _base_folder(reader, top.get("output"), "'output'")
    sources, encodings = _source_folders(reader, top.get("sources"))
    entries = _entries(reader, top.get("migrations"))
    last = max((entry.version[0] for entry in entries if entry.version is not None), default=0)
    width = _width(reader, top.get("width"), top.get("migrations"), last)
    groups = _groups(reader, top.get("groups"), last)
    excludes = _excludes(reader, top.get("exclude"), _mapped_sources(entries))
    resolutions = _resolutions(reader, top.get("resolutions"))
    provided = _provided(reader, top.get("provided"))
    accepted = _acceptances(reader, top.get("accept"), root)
    patches = _patches(reader, top.get("patches"), _mapped_sources(entries))
    production = _production(reader, top.get("postgres"))
    _prelude(reader, top.get("prelude"))  # checked here; `prelude_of` gives it to callers (Mapping has no field)
    if reader.problems or version is None or dialect is None or root is None or output is None or width is None:
        return None
    return Mapping(
        path=reader.path,
        base=base,
        version=version,
        dialect=dialect,
        root=root,
        output=output,
        width=width,
        sources=sources,
        groups=groups,
        targets=_targets(entries),
        excludes=excludes,
        resolutions=resolutions,
        provided=provided,
        provided_location=reader.at(top["provided"].key) if "provided" in top else None,
        accepted=accepted,
        encodings=encodings,
        patches=patches,
        postgres=production,
        postgres_location=reader.at(top["postgres"].value) if "postgres" in top else None,
    )


def _format_version(reader: _Reader, found: _Field | None) -> int | None:
    value = reader.integer(found.value, "'version'") if found else None
    if found is None or value is None or value == FORMAT_VERSION:
        return value
    message = f"mapping format version {value} is not supported; this consolidate reads version {FORMAT_VERSION}"
    reader.report("mapping.unsupported-version", message, found.value, f"set 'version: {FORMAT_VERSION}'")
    return None


def _dialect(reader: _Reader, found: _Field | None) -> str | None:
    if found is None:
        return DEFAULT_DIALECT
    name = reader.text(found.value, "'dialect'")
    if name is None or Dialect.get(name) is not None:
        return name
    hint = _did_you_mean(name, (known for known in Dialect.classes if known)) or "use a sqlglot dialect name"
    reader.report("mapping.unknown-dialect", f"unknown dialect '{name}'", found.value, hint)
    return None


def _base_folder(reader: _Reader, found: _Field | None, what: str) -> str | None:
    return reader.base_path(found.value, what) if found else None


def _width(reader: _Reader, found: _Field | None, migrations: _Field | None, last: int) -> int | None:
    """Zero-padding of versions: 1..9 digits, enough for the highest version."""
    width = reader.integer(found.value, "'width'") if found else DEFAULT_WIDTH
    if width is None:
        return None
    # Without a `width` key the default is too narrow because of the migrations: point at them.
    where: Node | Location = found.value if found else migrations.key if migrations else Location(reader.path, 1)
    if not 1 <= width <= MAX_WIDTH:
        message = f"'width' must be between 1 and {MAX_WIDTH}, not {width}"
        reader.report("mapping.bad-width", message, where, f"set 'width: {DEFAULT_WIDTH}'")
        return None
    digits = len(str(last))
    if digits > width:
        message = f"'width' {width} is too narrow for version {last} ({digits} digits)"
        reader.report("mapping.bad-width", message, where, f"set 'width: {digits}'")
        return None
    return width


def _production(reader: _Reader, found: _Field | None) -> int | None:
    """The PostgreSQL major production runs (`postgres: 15`): verify proves the tree on it when it can."""
    major = reader.integer(found.value, "'postgres'") if found else None
    if found is None or major is None:
        return None
    if not MIN_MAJOR <= major <= MAX_MAJOR:
        message = f"'postgres' must be a PostgreSQL major version from {MIN_MAJOR}, such as 15, not {major}"
        reader.report("mapping.bad-postgres", message, found.value, "write the major production runs: 'postgres: 15'")
        return None
    return major


def _source_folders(reader: _Reader, found: _Field | None) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The source folders, and the encoding declared for some (`- {path: db, encoding: latin-1}`)."""
    folders: dict[str, int] = {}
    encodings: dict[str, str] = {}
    for node in reader.items(found.value, "'sources'") if found else []:
        path_node, encoding = _source_entry(reader, node)
        folder = reader.relative_path(path_node, "a source folder") if path_node is not None else None
        line = reader.at(node).line or 0
        if folder is not None and folder in folders:
            message = f"source folder '{folder}' is listed twice (first at line {folders[folder]})"
            reader.report("mapping.duplicate-source", message, node, "remove the repeated entry")
        elif folder is not None:
            folders[folder] = line
            if encoding is not None:
                encodings[folder] = encoding
    return tuple(folders), tuple(encodings.items())


def _source_entry(reader: _Reader, node: Node) -> tuple[Node | None, str | None]:
    """A source folder as written: its path, or a mapping of its path and the encoding of its files."""
    if not isinstance(node, MappingNode):
        return node, None
    fields = reader.fields(node, _SOURCE, "a source folder")
    if fields is None or "path" not in fields:
        return None, None
    found = fields.get("encoding")
    encoding = reader.text(found.value, "'encoding'") if found else None
    if found is not None and encoding is not None and not _is_codec(encoding):
        hint = "use a Python codec name: latin-1, cp1252, utf-16, shift_jis, …"
        reader.report("mapping.unknown-encoding", f"unknown encoding '{encoding}'", found.value, hint)
        encoding = None
    return fields["path"].value, encoding


def _is_codec(name: str) -> bool:
    """Whether Python can decode text with `name` (base64 and other bytes-to-bytes codecs cannot)."""
    try:
        found = codecs.lookup(name)
    except LookupError:
        return False
    return bool(getattr(found, "_is_text_encoding", True))  # what str.encode checks; private, hence getattr


# --- migrations --------------------------------------------------------------------------------------------


def _entries(reader: _Reader, found: _Field | None) -> list[_Entry]:
    """Every migration entry as read, then the checks that span entries."""
    if found is None:
        return []
    entries = [_entry(reader, node) for node in reader.items(found.value, "'migrations'")]
    _check_versions(reader, entries, found.key)
    _check_names(reader, entries)
    _check_sources(reader, entries)
    return entries


def _entry(reader: _Reader, node: Node) -> _Entry:
    entry = _Entry(reader.at(node))
    fields = reader.fields(node, _MIGRATION, "a migration")
    if fields is None:
        return entry
    if "version" in fields:
        version = reader.integer(fields["version"].value, "'version'")
        entry.version = None if version is None else (version, reader.at(fields["version"].value))
    if "name" in fields:
        entry.name = _name(reader, fields["name"].value)
    if "description" in fields:
        entry.description = reader.text(fields["description"].value, "'description'", required=False) or ""
    if "sources" in fields:
        entry.sources = _entry_sources(reader, fields["sources"].value)
    return entry


def _name(reader: _Reader, node: Node) -> tuple[str, Location] | None:
    name = reader.text(node, "'name'")
    if name is None:
        return None
    if not _NAME.fullmatch(name):
        example = normalise(name) or "initial_schema"
        message = f"name '{name}' must use only lower-case letters, digits and '_'"
        reader.report("mapping.bad-name", message, node, f"for example '{example}'")
        return None
    return name, reader.at(node)


def _entry_sources(reader: _Reader, node: Node) -> list[tuple[str, Location]]:
    """The up files of one migration, in apply order; down files and non-.sql paths are reported."""
    sources: list[tuple[str, Location]] = []
    for item in reader.items(node, "a migration's 'sources'"):
        path = reader.relative_path(item, "a source file")
        if path is None:
            continue
        if not path.lower().endswith(".sql"):
            hint = "list .sql files here; folders go in the top-level 'sources'"
            reader.report("mapping.not-sql", f"'{path}' is not a .sql file", item, hint)
        elif parse_name(path).direction is Direction.DOWN:
            reader.problems.append(_down_mapped(path, reader.at(item)))
        sources.append((path, reader.at(item)))
    return sources


def _check_versions(reader: _Reader, entries: list[_Entry], key: Node) -> None:
    """Versions run 1..N: each at least 1, none repeated, none missing."""
    first: dict[int, Location] = {}
    for version, location in (entry.version for entry in entries if entry.version is not None):
        if version < 1:
            hint = "number migrations 1, 2, 3, … without gaps"
            reader.report("mapping.bad-version", f"migration version {version} must be 1 or more", location, hint)
        elif version in first:
            message = f"version {version} is used twice (first at line {first[version].line})"
            reader.report("mapping.duplicate-version", message, location, "give each migration its own version")
        else:
            first[version] = location
    missing = sorted(set(range(1, max(first, default=0) + 1)) - set(first))
    if missing:
        message = f"migration versions must run from 1 to {max(first)} without gaps: missing {_listed(missing)}"
        reader.report("mapping.missing-versions", message, key, "renumber the migrations, or add the missing ones")


def _listed(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)


def _check_names(reader: _Reader, entries: list[_Entry]) -> None:
    first: dict[str, _Entry] = {}
    for entry in entries:
        if entry.name is None:
            continue
        name, location = entry.name
        if name in first:
            message = f"name '{name}' is used twice (first at line {first[name].location.line})"
            reader.report("mapping.duplicate-name", message, location, "give each migration its own name")
        first.setdefault(name, entry)


def _check_sources(reader: _Reader, entries: list[_Entry]) -> None:
    """A legacy file goes into exactly one migration, once."""
    first: dict[str, Location] = {}
    for path, location in (source for entry in entries for source in entry.sources):
        if path in first:
            message = f"'{path}' is listed twice (first at line {first[path].line})"
            reader.report("mapping.duplicate-source", message, location, "remove one of the two entries")
        first.setdefault(path, location)


def _mapped_sources(entries: list[_Entry]) -> dict[str, Location]:
    mapped: dict[str, Location] = {}
    for path, location in (source for entry in entries for source in entry.sources):
        mapped.setdefault(path, location)
    return mapped


def _targets(entries: list[_Entry]) -> tuple[Target, ...]:
    targets = (
        Target(entry.version[0], entry.name[0], entry.description, tuple(p for p, _ in entry.sources), entry.location)
        for entry in entries
        if entry.version is not None and entry.name is not None
    )
    return tuple(sorted(targets, key=lambda target: target.version))


# --- groups, exclude, resolutions, provided, prelude -------------------------------------------------------


def _groups(reader: _Reader, found: _Field | None, last: int) -> tuple[Group, ...]:
    """Report sections: ranges inside 1..N that do not overlap, sorted by their first version."""
    read = (_group(reader, node, last) for node in _optional_items(reader, found, "'groups'"))
    located = sorted((item for item in read if item is not None), key=lambda item: (item[0].first, item[0].last))
    for (before, _), (group, location) in itertools.pairwise(located):
        if group.first <= before.last:
            message = f"group '{group.title}' ({_span(group)}) overlaps group '{before.title}' ({_span(before)})"
            reader.report("mapping.overlapping-groups", message, location, "make the version ranges disjoint")
    return tuple(group for group, _ in located)


def _optional_items(reader: _Reader, found: _Field | None, what: str) -> list[Node]:
    return reader.items(found.value, what, required=False) if found else []


def _span(group: Group) -> str:
    return f"versions {group.first}..{group.last}"


def _group(reader: _Reader, node: Node, last: int) -> tuple[Group, Location] | None:
    fields = reader.fields(node, _GROUP, "a group")
    if fields is None or "title" not in fields or "versions" not in fields:
        return None
    title = reader.text(fields["title"].value, "a group's 'title'")
    span = _group_span(reader, fields["versions"].value)
    if title is None or span is None:
        return None
    group, location = Group(title, *span), reader.at(fields["versions"].value)
    if group.first > group.last:
        message = f"group '{title}' runs backwards ({_span(group)})"
        reader.report("mapping.bad-group", message, location, f"write 'versions: [{group.last}, {group.first}]'")
        return None
    # Without any valid version there is no range to judge; the migrations' own problems say why.
    if last and (group.first < 1 or group.last > last):
        message = f"group '{title}' covers {_span(group)}, outside the migrations' versions 1..{last}"
        reader.report("mapping.bad-group", message, location, f"keep both ends between 1 and {last}")
        return None
    return group, location


def _group_span(reader: _Reader, node: Node) -> tuple[int, int] | None:
    if not isinstance(node, SequenceNode) or len(node.value) != 2:
        reader.wrong_type(node, "a group's 'versions'", "a list [first, last]")
        return None
    first, last = (reader.integer(item, "a group's version") for item in node.value)
    return None if first is None or last is None else (first, last)


def _excludes(reader: _Reader, found: _Field | None, mapped: dict[str, Location]) -> tuple[Exclusion, ...]:
    """Files or folders left out on purpose, each with its reason; a path cannot be both mapped and excluded."""
    excludes: dict[str, Exclusion] = {}
    for node in _optional_items(reader, found, "'exclude'"):
        exclusion = _exclusion(reader, node)
        if exclusion is None:
            continue
        if exclusion.path in excludes:
            message = f"'{exclusion.path}' is excluded twice (first at line {excludes[exclusion.path].location.line})"
            reader.report("mapping.duplicate-exclude", message, exclusion.location, "remove one of the two entries")
        elif exclusion.path in mapped:
            message = f"'{exclusion.path}' is both mapped (line {mapped[exclusion.path].line}) and excluded"
            hint = "remove it from exclude, or from the migration's sources"
            reader.report("mapping.excluded-and-mapped", message, exclusion.location, hint)
        excludes.setdefault(exclusion.path, exclusion)
    return tuple(excludes.values())


def _exclusion(reader: _Reader, node: Node) -> Exclusion | None:
    """An exclude entry; None when it names no usable path. A missing reason is reported, the path still checked."""
    fields = reader.fields(node, _EXCLUDE, "an exclude entry")
    if fields is None or "path" not in fields:
        return None
    path = reader.relative_path(fields["path"].value, "an exclude 'path'")
    what = f"exclude '{path}'" if path else "an exclude entry"
    reason = _reason(reader, fields, node, what, "why it is not consolidated")
    return None if path is None else Exclusion(path, reason or "", reader.at(node))


def _reason(reader: _Reader, fields: dict[str, _Field], entry: Node, what: str, why: str) -> str | None:
    """A required, non-empty reason: decisions a reviewer must be able to understand later."""
    found = fields.get("reason")
    reason = reader.text(found.value, "'reason'", required=False) if found else None
    if reason is None and (found is None or isinstance(found.value, ScalarNode)):
        state, where = ("an empty reason", found.value) if found else ("no reason", entry)
        reader.report("mapping.missing-reason", f"{what} has {state}", where, f"add 'reason: <{why}>'")
    return reason


def _resolutions(reader: _Reader, found: _Field | None) -> tuple[Resolution, ...]:
    """How to settle objects created twice with different definitions; one per object."""
    resolutions: dict[str, Resolution] = {}
    for node in _optional_items(reader, found, "'resolutions'"):
        resolution = _resolution(reader, node)
        if resolution is None:
            continue
        if resolution.object in resolutions:
            first = resolutions[resolution.object].location.line
            message = f"'{resolution.object}' has two resolutions (first at line {first})"
            reader.report("mapping.duplicate-resolution", message, resolution.location, "keep one of them")
        resolutions.setdefault(resolution.object, resolution)
    return tuple(resolutions.values())


def _resolution(reader: _Reader, node: Node) -> Resolution | None:
    fields = reader.fields(node, _RESOLUTION, "a resolution")
    if fields is None:
        return None
    target = _object(reader, fields["object"].value, "a resolution's 'object'") if "object" in fields else None
    decision = _decision(reader, fields["decision"].value) if "decision" in fields else None
    what = f"the resolution for '{target}'" if target else "a resolution"
    reason = _reason(reader, fields, node, what, "why this decision is right")
    if target is None or decision is None or reason is None:
        return None
    return Resolution(target, decision, reason, reader.at(node))


def _decision(reader: _Reader, node: Node) -> Decision | None:
    text = reader.text(node, "'decision'")
    choices = [decision.value for decision in Decision]
    if text is None or text in choices:
        return None if text is None else Decision(text)
    hint = _did_you_mean(text, choices) or f"use one of: {', '.join(choices)}"
    reader.report("mapping.bad-decision", f"unknown decision '{text}'", node, hint)
    return None


def _acceptances(reader: _Reader, found: _Field | None, root: str | None) -> tuple[Acceptance, ...]:
    """Findings a team acknowledges with a reason, each by its code and where the plan reports it."""
    accepted = (_acceptance(reader, node, root) for node in _optional_items(reader, found, "'accept'"))
    return tuple(acceptance for acceptance in accepted if acceptance is not None)


def _acceptance(reader: _Reader, node: Node, root: str | None) -> Acceptance | None:
    fields = reader.fields(node, _ACCEPT, "an 'accept' entry")
    if fields is None:
        return None
    code = reader.text(fields["finding"].value, "'finding'") if "finding" in fields else None
    if code is not None and not _FINDING_CODE.fullmatch(code):
        hint = "write the code the plan prints, e.g. plan.ordering"
        reader.report("mapping.bad-finding", f"'{code}' is not a finding's code", fields["finding"].value, hint)
        code = None
    elif code == "plan.unresolved-conflict":
        hint = "settle a conflict with a resolution (keep-first or merge-columns) under 'resolutions'"
        reader.report("mapping.bad-finding", "a conflict is settled by a resolution, not accepted", node, hint)
        code = None
    elif code in _CERTAIN:
        # Accepted, the statement would stay in its canonical version and fail there, and a version is one
        # transaction: everything else in it would be rolled back with it, where the legacy replay lost one file.
        message = "PostgreSQL's own parser rejects this statement: it fails in every replay, and cannot be accepted"
        hint = "correct it with a patch in the mapping ('patches:', see docs/mapping.md), or exclude the file"
        reader.report("mapping.bad-finding", message, node, hint)
        code = None
    at = _at(reader, fields["at"].value, root) if "at" in fields else None
    reason = _reason(reader, fields, node, f"the acceptance of '{code}'", "why this finding is not a problem")
    if code is None or at is None or reason is None:
        return None
    return Acceptance(code, at[0], at[1], reason, reader.at(node))


def _at(reader: _Reader, node: Node, root: str | None) -> tuple[str, int | None] | None:
    """`path[:line[:col]]` as the plan prints it (below the mapping's folder) or as sources are written."""
    text = reader.text(node, "'at'")
    found = _AT.fullmatch(text) if text is not None else None
    if found is None:
        return None
    path = found["path"].replace("\\", "/")
    if root not in (None, ".", "") and not path.startswith(f"{root}/"):
        path = posixpath.join(root, path)  # findings show paths below the mapping's folder
    return path, int(found["line"]) if found["line"] else None


def _patches(reader: _Reader, found: _Field | None, mapped: Lookup[str, Location]) -> tuple[Patch, ...]:
    """Decisions on broken legacy statements, one per statement (file and line); each file a mapped source.

    Whether the line is where a statement starts, and whether the SQL parses, needs the file: see core/patches.py.
    """
    patches: dict[tuple[str, int], Patch] = {}
    for node in _optional_items(reader, found, "'patches'"):
        patch = _patch(reader, node, mapped)
        if patch is None:
            continue
        key = (patch.file, patch.line)
        if key in patches:
            message = f"'{patch.file}' line {patch.line} has two decisions (first at line {patches[key].location.line})"
            reader.report("mapping.duplicate-patch", message, patch.location, "keep one of them")
        patches.setdefault(key, patch)
    return tuple(patches.values())


def _patch(reader: _Reader, node: Node, mapped: Lookup[str, Location]) -> Patch | None:
    fields = reader.fields(node, _PATCH, "a patch")
    if fields is None:
        return None
    path = _patched_file(reader, fields["file"].value, mapped) if "file" in fields else None
    line = _patched_line(reader, fields["line"].value) if "line" in fields else None
    what = f"the patch of '{path}' line {line}" if path and line else "a patch"
    reason = _reason(reader, fields, node, what, "why the legacy statement is wrong, and why this fixes it")
    replacement = _replacement(reader, node, fields)
    if path is None or line is None or reason is None or replacement is None:
        return None
    return Patch(path, line, replacement or None, reason, reader.at(node))


def _patched_file(reader: _Reader, node: Node, mapped: Lookup[str, Location]) -> str | None:
    path = reader.relative_path(node, "a patch's 'file'")
    if path is None or path in mapped:
        return path
    hint = _did_you_mean(path, mapped) or "name the file as a migration's 'sources' lists it (relative to root)"
    reader.report("mapping.patch-unknown-file", f"'{path}' is not a source of any migration", node, hint)
    return None


def _patched_line(reader: _Reader, node: Node) -> int | None:
    line = reader.integer(node, "a patch's 'line'")
    if line is not None and line < 1:
        hint = "give the line where the statement starts, as `consolidate plan` shows it"
        reader.report("mapping.bad-patch", f"a patch's 'line' must be 1 or more, not {line}", node, hint)
        return None
    return line


def _replacement(reader: _Reader, node: Node, fields: dict[str, _Field]) -> str | None:
    """The replacement SQL; "" for `drop: true`; None (reported) unless exactly one of the two is given."""
    sql, drop = fields.get("sql"), fields.get("drop")
    if sql is not None and drop is not None:
        hint = "keep 'sql' to replace the statement, or 'drop: true' to leave it out"
        reader.report("mapping.bad-patch", "a patch has both 'sql' and 'drop'", drop.key, hint)
        return None
    if sql is not None:
        return reader.text(sql.value, "a patch's 'sql'")
    if drop is None:
        hint = "add 'sql: <the corrected statement>', or 'drop: true' to leave the statement out"
        reader.report("mapping.bad-patch", "a patch has neither 'sql' nor 'drop'", node, hint)
        return None
    value = drop.value
    if not isinstance(value, ScalarNode) or value.tag != _BOOL or reader.value(value) is not True:
        hint = "write 'drop: true', or give 'sql' instead to replace the statement"
        reader.report("mapping.bad-patch", f"'drop' must be true, not {_describe(value)}", value, hint)
        return None
    return ""


def _provided(reader: _Reader, found: _Field | None) -> tuple[str, ...]:
    """Objects the platform creates before any migration runs, normalised to 'kind name'."""
    provided: dict[str, int] = {}
    for node in _optional_items(reader, found, "'provided'"):
        text = _object(reader, node, "a 'provided' object")
        if text is not None and text in provided:
            message = f"'{text}' is listed twice in 'provided' (first at line {provided[text]})"
            reader.report("mapping.duplicate-provided", message, node, "remove the repeated entry")
        elif text is not None:
            provided[text] = reader.at(node).line or 0
    return tuple(provided)


def _prelude(reader: _Reader, found: _Field | None) -> str | None:
    """The SQL file that sets up what the platform provides; outside root, so relative to the mapping's folder."""
    path = reader.base_path(found.value, "'prelude'") if found else None
    if found is not None and path is not None:
        reader.prelude = (path, reader.at(found.value).line or 1)
    return path


def _sorted(problems: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Unique problems by line: an aliased YAML node read twice reports once."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda item: (item.location.line or 0, item.location.column or 0, item.location.path))


# --- check_tree ---------------------------------------------------------------------------------------------


def check_tree(mapping: Mapping, tree: SourceTree, lines: Lookup[str, int] | None = None) -> tuple[Diagnostic, ...]:
    """Compare a mapping with what io read below root: missing folders and files, symlinks leaving root.

    `lines` (from `source_lines`) puts each finding at the line naming the path; without it, a mapped source is
    reported at its migration's entry and a source folder at the mapping file.
    """
    where = _Where(mapping, lines or {})
    found = [
        *_missing_folders(mapping, tree, where),
        *_missing_sources(mapping, tree, where),
        *_missing_excludes(mapping, tree),
        *_escaping(mapping, tree, where),
    ]
    return tuple(_sorted(found))


@dataclass(frozen=True)
class _Where:
    """Where in the mapping file a path is named."""

    mapping: Mapping
    lines: Lookup[str, int]

    def __call__(self, path: str, fallback: Location | None = None) -> Location:
        line = self.lines.get(path, fallback.line if fallback else None)
        return Location(self.mapping.path, line)


def _below(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder + "/")


def _shown(mapping: Mapping, path: str) -> str:
    """A path below root as the user finds it from the mapping's folder: root as written, then the path."""
    return path if mapping.root == "." else f"{mapping.root}/{path}"


def _missing_folders(mapping: Mapping, tree: SourceTree, where: _Where) -> list[Diagnostic]:
    return [
        Diagnostic(
            "mapping.missing-source-folder",
            f"source folder '{_shown(mapping, folder)}' does not exist or is not a folder",
            where(folder),
            "fix the path (it is relative to root), or remove it from 'sources'",
        )
        for folder in tree.missing
    ]


def _unreadable(mapping: Mapping, tree: SourceTree, path: str) -> bool:
    """True when a path's absence is already explained: its folders are missing, a symlink leaves root, or io
    could not read it or a folder above it (reported as such: one line per problem)."""
    folders = [folder for folder in mapping.sources if _below(path, folder)]
    if folders and all(folder in tree.missing for folder in folders):
        return True
    refused = (*tree.escaping, *(problem.location.path for problem in tree.unreadable))
    return any(_below(path, where) for where in refused)


def _missing_sources(mapping: Mapping, tree: SourceTree, where: _Where) -> list[Diagnostic]:
    present = {raw.path for raw in tree.files}
    found: list[Diagnostic] = []
    for target in mapping.targets:
        for source in target.sources:
            if source in present or _unreadable(mapping, tree, source):
                continue
            found.append(_missing_source(mapping, source, where(source, target.location)))
    return found


def _missing_source(mapping: Mapping, source: str, location: Location) -> Diagnostic:
    shown = _shown(mapping, source)
    if not any(_below(source, folder) for folder in mapping.sources):
        hint = "add its folder to the top-level 'sources'"
        return Diagnostic("mapping.outside-sources", f"'{shown}' is not below any source folder", location, hint)
    hint = "fix the path (it is relative to root) or remove it"
    return Diagnostic("mapping.missing-file", f"'{shown}' does not exist below its source folder", location, hint)


def _missing_excludes(mapping: Mapping, tree: SourceTree) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for exclusion in mapping.excludes:
        if any(_below(raw.path, exclusion.path) for raw in tree.files):
            continue
        if _unreadable(mapping, tree, exclusion.path):
            continue
        message = f"exclude '{_shown(mapping, exclusion.path)}' matches no .sql file below the source folders"
        hint = "fix the path (a file or a folder, relative to root), or remove the entry"
        found.append(Diagnostic("mapping.missing-exclude", message, exclusion.location, hint))
    return found


def _escaping(mapping: Mapping, tree: SourceTree, where: _Where) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for path in tree.escaping:
        location = _naming_entry(mapping, path, where)
        if location is None:
            continue
        message = f"'{_shown(mapping, path)}' is a symbolic link to somewhere outside root; it was not read"
        hint = "replace the link with the file or folder it points to, or move root so that it contains both"
        found.append(Diagnostic("mapping.escapes-root", message, location, hint))
    return found


def _naming_entry(mapping: Mapping, path: str, where: _Where) -> Location | None:
    """The entry that brings a path in: the migration mapping it, the exclude covering it, or its source folder."""
    target = mapping.target_of(path)
    if target is not None:
        return where(path, target.location)
    for exclusion in mapping.excludes:
        if _below(path, exclusion.path):
            return exclusion.location
    for folder in mapping.sources:
        if _below(path, folder) or _below(folder, path):
            return where(folder)
    return None


# --- check_coverage -----------------------------------------------------------------------------------------


def check_coverage(mapping: Mapping, scan: ScanResult, lines: Lookup[str, int] | None = None) -> tuple[Diagnostic, ...]:
    """Every scanned file is accounted for: an up file mapped or excluded, a down file through its up file.

    Also reports a mapped source the scanner reads as a down file (its naming scheme knows more than the
    lexical check of `parse_mapping`). `lines` is as for `check_tree`.
    """
    where = _Where(mapping, lines or {})
    mapped = {source: target for target in mapping.targets for source in target.sources}
    up_of = {down: up for up, down in scan.downs}
    found: list[Diagnostic] = []
    for file in scan.files:
        if file.path in mapped and file.direction is Direction.DOWN:
            found.append(_down_mapped(file.path, where(file.path, mapped[file.path].location)))
        elif file.path not in mapped and not _excluded(mapping, file.path):
            problem = _unaccounted(mapping, file.path, file.direction, up_of.get(file.path), mapped)
            if problem is not None:
                found.append(problem)
    return tuple(_sorted(found))


def _excluded(mapping: Mapping, path: str) -> bool:
    return any(_below(path, exclusion.path) for exclusion in mapping.excludes)


def _unaccounted(
    mapping: Mapping, path: str, direction: Direction, up: str | None, mapped: Lookup[str, Target]
) -> Diagnostic | None:
    """Why a file that is neither mapped nor excluded is a problem; None for a down file whose up is covered.

    The location already names the file, so the message does not repeat it.
    """
    location = Location(_shown(mapping, path))
    if direction is Direction.UP:
        return Diagnostic("mapping.unmapped-file", "neither mapped nor excluded", location, _UNMAPPED_HINT)
    if up is None:
        message = "down file paired with no up file, and not excluded"
        hint = "add it to exclude with a reason; the scan's finding for this file says why it is not paired"
        return Diagnostic("mapping.unmapped-file", message, location, hint)
    if up in mapped or _excluded(mapping, up):
        return None
    message = f"down file of '{_shown(mapping, up)}', which is neither mapped nor excluded"
    hint = "map or exclude its up file and this down file follows it, or exclude this file with a reason"
    return Diagnostic("mapping.unmapped-file", message, location, hint)
