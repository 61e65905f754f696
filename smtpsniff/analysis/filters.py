"""Display filters: Wireshark field names in pandas ``DataFrame.query`` syntax, applied to the tables.

``smtp.response.code == 550``, ``smtp.req.command == "VRFY" && ip.addr == 10.0.0.5``,
``tcp.port in {25 587}``, ``smtp.req.parameter contains "alice"`` and plain column names
(``status == "rejected"``) all work.  The expression is read by a small tokenizer that lets through
only literals, operators, known field and column names and a short list of string methods, then
handed to ``DataFrame.query`` with no access to Python variables: no ``@name``, no attribute beyond
the allowed methods, nothing starting with ``__``.

Which table a filter runs on
    Every name has a home table: ``smtp.req.*`` the commands, ``smtp.response.code`` and
    ``smtp.rsp.parameter`` the replies, ``imf.*`` the messages, ``smtp.auth.username`` the
    credentials; a plain column name the first table that has it (commands, replies, sessions,
    transactions, recipients, then the rest).  Connection fields (``ip.*``, ``tcp.*``) fit any
    table.  The filter runs on the first home table in which every name exists (so
    ``smtp.req.command == "RCPT" and smtp.response.code == 550`` runs on the commands, whose
    ``reply_code`` answers ``smtp.response.code``), on the sessions when it names connection
    fields only.  Its result is the matching rows of that table and the sessions that have at
    least one; :func:`filter_tables` keeps those rows in that table and every row of those
    sessions in the others.

This module knows tables and expressions; it does no I/O and prints nothing.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

#: Order in which a plain column name looks for its home, and filters fall back.
TABLE_ORDER = ("commands", "replies", "sessions", "transactions", "recipients", "messages", "attachments",
               "headers", "credentials", "findings", "anomalies")

_ANY = "*"  # a connection field: the same columns in every table that has them

#: Wireshark field -> {table: column or (columns, any of which may match)}.  ``*`` is every table.
FIELDS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "smtp.req.command": {"commands": "verb", "replies": "verb"},
    "smtp.req.parameter": {"commands": "argument"},
    "smtp.response.code": {"replies": "code", "commands": "reply_code", "recipients": "reply_code"},
    "smtp.rsp.parameter": {"replies": "text"},
    "smtp.response": {"replies": "text"},
    "smtp.auth.username": {"credentials": "username", "sessions": "auth_username"},
    "imf.subject": {"messages": "subject"},
    "imf.from": {"messages": "from"},
    "imf.to": {"messages": "to"},
    "imf.cc": {"messages": "cc"},
    "imf.message_id": {"messages": "message_id"},
    "imf.date": {"messages": "date"},
    "tls.handshake.extensions_server_name": {"sessions": "sni"},
    "tcp.stream": {_ANY: "session_id"},
    "frame.number": {"sessions": "first_frame", _ANY: "frame"},
    "ip.addr": {_ANY: ("client_ip", "server_ip")},
    "tcp.port": {_ANY: ("client_port", "server_port")},
    # Source and destination are those of the packet that carried the row: a reply flows from
    # the server, everything else from the client (for sessions: the connection's initiator).
    "ip.src": {"replies": "server_ip", _ANY: "client_ip"},
    "ip.dst": {"replies": "client_ip", _ANY: "server_ip"},
    "ipv6.addr": {_ANY: ("client_ip", "server_ip")},
    "ipv6.src": {"replies": "server_ip", _ANY: "client_ip"},
    "ipv6.dst": {"replies": "client_ip", _ANY: "server_ip"},
    "tcp.srcport": {"replies": "server_port", _ANY: "client_port"},
    "tcp.dstport": {"replies": "client_port", _ANY: "server_port"},
}

#: The table a Wireshark field belongs to first (fields absent here fit any table).
_HOME = {
    "smtp.req.command": "commands", "smtp.req.parameter": "commands", "smtp.response.code": "replies",
    "smtp.rsp.parameter": "replies", "smtp.response": "replies", "smtp.auth.username": "credentials",
    "imf.subject": "messages", "imf.from": "messages", "imf.to": "messages", "imf.cc": "messages",
    "imf.message_id": "messages", "imf.date": "messages",
    "tls.handshake.extensions_server_name": "sessions",
}

#: Methods a name may be followed by (``argument.str.startswith("TO:")``).
ALLOWED_METHODS = frozenset({
    "str.contains", "str.startswith", "str.endswith", "str.match", "str.fullmatch", "str.lower",
    "str.upper", "str.len", "str.strip", "isna", "notna", "isin",
})

_METHOD_HEADS = frozenset(m.split(".")[0] for m in ALLOWED_METHODS) | {"upper", "lower", "apply", "eval", "pipe"}

_KEYWORDS = {"and": "and", "or": "or", "not": "not", "in": "in", "True": "True", "False": "False",
             "true": "True", "false": "False", "eq": "==", "ne": "!=", "gt": ">", "lt": "<", "ge": ">=",
             "le": "<=", "any_eq": "==", "all_ne": "!="}
_MATCH_WORDS = {"contains": False, "matches": True}  # word -> regex

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<ip>\d{1,3}(?:\.\d{1,3}){3}(?![\w.]))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>&&|\|\||==|!=|>=|<=|[<>!~()\[\]{},&|+\-*/%])
""", re.VERBOSE)


class FilterError(ValueError):
    """A filter that cannot be read or evaluated; the message is one line."""


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    expression: str  # as given
    table: str  # the table it runs on
    query: str  # the pandas query it became
    engine: str | None  # "python" when string methods need it


@dataclass(frozen=True, slots=True)
class FilterResult:
    filter: CompiledFilter
    rows: pd.DataFrame  # matching rows of filter.table
    session_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


def compile_filter(expression: str, tables: Mapping[str, pd.DataFrame], *, table: str | None = None) -> CompiledFilter:
    """Translate ``expression`` for the table it belongs on (or ``table``), checking every name."""
    tokens = _tokenize(expression)
    names = [t.text for t in tokens if t.kind == "name" and t.text not in _KEYWORDS and t.text not in _MATCH_WORDS]
    fields = [_split_name(n, tables)[0] for n in names]
    target = table or _choose_table(fields, tables, expression)
    if target not in tables:
        raise FilterError(f"no {target} table in this capture (filter {expression!r})")
    query, engine = _translate(tokens, target, tables[target], expression)
    return CompiledFilter(expression, target, query, engine)


def apply_filter(tables: Mapping[str, pd.DataFrame], expression: str, *, table: str | None = None) -> FilterResult:
    """The rows of the filter's table that match, and the sessions they belong to."""
    compiled = compile_filter(expression, tables, table=table)
    frame = tables[compiled.table]
    try:
        rows = frame.query(compiled.query, engine=compiled.engine, local_dict={}, global_dict={})
    except Exception as exc:  # pandas raises many kinds; the user gets one line
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise FilterError(f"filter {expression!r} cannot be evaluated on the {compiled.table} table: "
                          f"{detail}") from None
    ids = frozenset(int(x) for x in rows["session_id"].dropna()) if "session_id" in rows else frozenset()
    return FilterResult(compiled, rows, ids)


def filter_tables(tables: Mapping[str, pd.DataFrame], expression: str) -> tuple[dict[str, pd.DataFrame], FilterResult]:
    """Every table cut to the filter: matching rows of its own table, whole matching sessions elsewhere."""
    result = apply_filter(tables, expression)
    out: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        if name == result.filter.table:
            out[name] = result.rows
        elif "session_id" in frame.columns:
            out[name] = frame[frame["session_id"].isin(result.session_ids).fillna(False).astype(bool)]
        else:
            out[name] = frame
    return out, result


def describe_fields() -> str:
    """The Wireshark fields understood, one per line with the columns they stand for."""
    lines = []
    for field, where in FIELDS.items():
        parts = [f"{'any table' if t == _ANY else t}: {' or '.join(c) if isinstance(c, tuple) else c}"
                 for t, c in where.items()]
        lines.append(f"{field:40s} {'; '.join(parts)}")
    return "\n".join(lines)


# --- reading ---------------------------------------------------------------------------------------

def _tokenize(expression: str) -> list[_Tok]:
    if not expression or not expression.strip():
        raise FilterError("empty filter")
    tokens, pos = [], 0
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if not m and expression[pos] == "=":
            raise FilterError(f"use == to compare (position {pos + 1}): {expression!r}")
        if not m:
            raise FilterError(f"cannot read the filter at {expression[pos:pos + 12]!r} (position {pos + 1}): "
                              f"{expression!r}")
        kind = m.lastgroup
        if kind != "space":
            tokens.append(_Tok(kind, m.group(0)))
        pos = m.end()
    for t in tokens:
        if t.kind == "name" and "__" in t.text:
            raise FilterError(f"names with __ are not allowed in a filter: {t.text!r}")
    return tokens


def _split_name(name: str, tables: Mapping[str, pd.DataFrame]) -> tuple[str, str]:
    """``smtp.req.parameter.str.contains`` -> (``smtp.req.parameter``, ``str.contains``)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        head, tail = ".".join(parts[:cut]), ".".join(parts[cut:])
        if head in FIELDS or (cut == 1 and any(head in f.columns for f in tables.values())):
            if tail and tail not in ALLOWED_METHODS:
                if tail.split(".")[0] not in _METHOD_HEADS:
                    break  # a misspelt field (smtp.response.cod), not a method
                raise FilterError(f"{tail!r} after {head!r} is not allowed; use one of "
                                  f"{', '.join(sorted(ALLOWED_METHODS))}")
            return head, tail
    close = difflib.get_close_matches(name, list(FIELDS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise FilterError(f"unknown field {name!r}: {hint}use a column name or one of {', '.join(FIELDS)}")


def _home(field: str, tables: Mapping[str, pd.DataFrame]) -> str | None:
    if field in FIELDS:
        return _HOME.get(field)
    return next((t for t in TABLE_ORDER if t in tables and field in tables[t].columns),
                next((t for t in tables if field in tables[t].columns), None))


def _columns_in(field: str, table: str, frame: pd.DataFrame) -> tuple[str, ...] | None:
    if field in FIELDS:
        where = FIELDS[field]
        cols = where.get(table, where.get(_ANY))
        if cols is None:
            return None
        cols = cols if isinstance(cols, tuple) else (cols,)
    else:
        cols = (field,)
    return cols if all(c in frame.columns for c in cols) else None


def _choose_table(fields: list[str], tables: Mapping[str, pd.DataFrame], expression: str) -> str:
    homes = []
    for f in fields:
        h = _home(f, tables)
        if h is not None and h not in homes:
            homes.append(h)
    order = [t for t in TABLE_ORDER if t in homes] + [t for t in homes if t not in TABLE_ORDER]
    if not homes:
        order = ["sessions"]
    for table in order:
        if table in tables and all(_columns_in(f, table, tables[table]) for f in fields):
            return table
    if len(homes) == 1 and homes[0] not in tables:
        raise FilterError(f"no {homes[0]} table in this capture (filter {expression!r})")
    raise FilterError(f"no single table has every field of {expression!r} (they belong to {', '.join(order)}); "
                      "filter one table at a time")


# --- writing ---------------------------------------------------------------------------------------

def _translate(tokens: list[_Tok], table: str, frame: pd.DataFrame, expression: str) -> tuple[str, str | None]:
    out: list[str] = []
    engine: str | None = None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.kind == "name" and t.text in _KEYWORDS:
            out.append(_KEYWORDS[t.text])
            i += 1
            continue
        if t.kind == "name" and t.text in _MATCH_WORDS:
            raise FilterError(f"{t.text!r} needs a field before it: {expression!r}")
        if t.kind == "name":
            field, method = _split_name(t.text, {table: frame})
            cols = _columns_in(field, table, frame)
            if cols is None:
                raise FilterError(f"{field!r} has no column in the {table} table (filter {expression!r})")
            cols = tuple(f"`{c}`" if not c.isidentifier() or c in _RESERVED else c for c in cols)
            if method:
                engine = "python"
                if len(cols) > 1:
                    raise FilterError(f"{field!r} stands for several columns; compare it instead: {expression!r}")
                out.append(f"{cols[0]}.{method}")
                i += 1
                continue
            op, skip = _operator(tokens, i + 1)
            if op is None:
                if len(cols) > 1:
                    raise FilterError(f"{field!r} must be compared, e.g. {field} == value: {expression!r}")
                out.append(cols[0])
                i += 1
                continue
            operand, j = _operand(tokens, i + 1 + skip, expression)
            pieces = []
            for col in cols:
                if op in _MATCH_WORDS:
                    engine = "python"
                    if _MATCH_WORDS[op]:  # Wireshark's "matches": a case-insensitive regular expression
                        pieces.append(f"({col}.astype('string').str.count({operand}, flags={int(re.IGNORECASE)})"
                                      " > 0)")
                    else:  # "contains": a literal, case-sensitive substring
                        pieces.append(f"{col}.astype('string').str.contains({operand}, regex=False, na=False)")
                else:
                    pieces.append(f"{col} {op} {operand}")
            joiner = " and " if op in ("!=", "not in") else " or "
            out.append(pieces[0] if len(pieces) == 1 else "(" + joiner.join(pieces) + ")")
            i = j
            continue
        if t.kind == "ip":
            out.append(f'"{t.text}"')
        elif t.kind == "op":
            out.append({"&&": "and", "||": "or", "!": "not", "~": "~"}.get(t.text, t.text))
            if t.text == "{":
                out[-1] = "["
            elif t.text == "}":
                out[-1] = "]"
        else:
            out.append(t.text)
        i += 1
    return " ".join(out), engine


_RESERVED = frozenset({"from", "in", "not", "and", "or", "is", "if", "else", "for", "class", "def", "lambda",
                       "import", "return", "with", "as", "del", "global", "pass", "raise", "try", "while", "yield"})


def _operator(tokens: list[_Tok], i: int) -> tuple[str | None, int]:
    """The comparison at ``i`` and how many tokens it takes (``not in`` takes two)."""
    tok = tokens[i] if i < len(tokens) else None
    if tok is None:
        return None, 0
    if tok.kind == "op" and tok.text in ("==", "!=", ">=", "<=", ">", "<"):
        return tok.text, 1
    if tok.kind == "op" and tok.text == "~":
        return "matches", 1
    if tok.kind == "name" and tok.text in _MATCH_WORDS:
        return tok.text, 1
    if tok.kind == "name" and tok.text in ("eq", "ne", "gt", "lt", "ge", "le", "any_eq", "all_ne"):
        return _KEYWORDS[tok.text], 1
    if tok.kind == "name" and tok.text == "in":
        return "in", 1
    if (tok.kind == "name" and tok.text == "not" and i + 1 < len(tokens) and tokens[i + 1].kind == "name"
            and tokens[i + 1].text == "in"):
        return "not in", 2
    return None, 0


def _operand(tokens: list[_Tok], i: int, expression: str) -> tuple[str, int]:
    """One literal, or a ``{...}`` / ``[...]`` set of literals, starting at ``i``."""
    if i >= len(tokens):
        raise FilterError(f"the filter ends where a value was expected: {expression!r}")
    t = tokens[i]
    if t.kind == "op" and t.text in ("{", "["):
        close = "}" if t.text == "{" else "]"
        items, j = [], i + 1
        while j < len(tokens) and not (tokens[j].kind == "op" and tokens[j].text == close):
            if not (tokens[j].kind == "op" and tokens[j].text == ","):
                items.append(_literal(tokens[j], expression))
            j += 1
        if j >= len(tokens):
            raise FilterError(f"unclosed {t.text!r} in {expression!r}")
        return "[" + ", ".join(items) + "]", j + 1
    if t.kind == "op" and t.text == "-" and i + 1 < len(tokens) and tokens[i + 1].kind == "number":
        return "-" + tokens[i + 1].text, i + 2
    return _literal(t, expression), i + 1


def _literal(t: _Tok, expression: str) -> str:
    if t.kind in ("string", "number"):
        return t.text
    if t.kind == "ip":
        return f'"{t.text}"'
    if t.kind == "name" and t.text in ("true", "false", "True", "False"):
        return _KEYWORDS[t.text]
    raise FilterError(f"expected a value (a number, \"text\" or an address), not {t.text!r}: {expression!r}")


__all__ = ["ALLOWED_METHODS", "CompiledFilter", "FIELDS", "FilterError", "FilterResult", "apply_filter",
           "compile_filter", "describe_fields", "filter_tables"]
