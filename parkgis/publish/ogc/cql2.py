"""CQL2 text (OGC 21-065) to parameterised PostGIS SQL over a public collection.

Why our own parser rather than pygeofilter's: the SQL must be ours anyway (identifiers from the
registry whitelist, every value a bound parameter), pygeofilter's cql2-text grammar reports
errors as lark internals that make poor 400 messages, and GDAL's OAPIF driver sends forms
(``ILIKE``, ``'2024-01-01T'`` dates, ``filter-lang=cql-text``) that we want to accept on purpose.
The grammar is small enough that a recursive-descent parser is the clearer code.

Supported (the conformance classes listed at ``/ogc/conformance``):

- Basic CQL2: ``= <> < <= > >=``, ``AND OR NOT``, parentheses, ``IS [NOT] NULL``, booleans,
  numbers, ``'strings'`` (``''`` escapes a quote), ``DATE('…')``, property names bare or
  double-quoted.
- Advanced comparison operators: ``[NOT] LIKE`` (``%``, ``_``, ``\\`` escapes),
  ``[NOT] BETWEEN … AND …``, ``[NOT] IN (…)``; ``ILIKE`` as GDAL sends it.
- Spatial functions: ``S_INTERSECTS S_DISJOINT S_EQUALS S_TOUCHES S_WITHIN S_OVERLAPS
  S_CROSSES S_CONTAINS`` with the ``geometry`` property and WKT or ``BBOX(…)`` literals in the
  ``filter-crs`` (default CRS84), axis order as that CRS defines it.

Anything else (arithmetic, functions, temporal or array operators) is a 400 naming the place.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import shapely
import shapely.wkt
from shapely.geometry.base import BaseGeometry

from parkgis.db.collections import Collection
from parkgis.errors import InvalidInput
from parkgis.geo.crs import DEFAULT, STORE_SRID, Crs

GEOMETRY_PROPERTY = "geometry"
MAX_FILTER_LENGTH = 20_000
MAX_DEPTH = 60

# ---------------------------------------------------------------------------------------------
# Tokens

_WKT_TYPES = (
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
)
_KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "LIKE",
        "ILIKE",
        "BETWEEN",
        "IN",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "DATE",
        "TIMESTAMP",
        "BBOX",
        "CASEI",
        "ACCENTI",
        *_WKT_TYPES,
    }
)
SPATIAL_FUNCTIONS = {
    "S_INTERSECTS": "ST_Intersects",
    "S_DISJOINT": "ST_Disjoint",
    "S_EQUALS": "ST_Equals",
    "S_TOUCHES": "ST_Touches",
    "S_WITHIN": "ST_Within",
    "S_OVERLAPS": "ST_Overlaps",
    "S_CROSSES": "ST_Crosses",
    "S_CONTAINS": "ST_Contains",
}
_COMPARISON = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<number>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<op><>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.:]*)
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, qident, number, op, punct, word, wkt, eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _fail(msg_zh: str, msg_en: str, pos: int | None = None) -> InvalidInput:
    where = f" (位置 / at {pos})" if pos is not None else ""
    return InvalidInput(f"filter: {msg_zh} / {msg_en}{where}")


def tokenize(text: str) -> list[Token]:
    """Split CQL2 text into tokens; a WKT literal becomes one ``wkt`` token.

    Raises
    ------
    InvalidInput
        On a character that cannot start a token or an unterminated literal.
    """
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos] in "'\"":
                raise _fail("字符串或名称未结束", "unterminated literal", pos)
            raise _fail(f"无法识别的字符 {text[pos]!r}", f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind == "word" and m.group().upper() in _WKT_TYPES:
            end = _wkt_end(text, m.end())
            if end is not None:
                tokens.append(Token("wkt", text[pos:end], pos))
                pos = end
                continue
        if (
            kind == "number"
            and m.group()[0] in "+-"
            and tokens
            and (
                tokens[-1].kind in ("number", "string", "qident", "wkt")
                or (tokens[-1].kind == "word" and tokens[-1].upper not in _KEYWORDS)
            )
        ):
            # "a-1" is arithmetic (unsupported), not the number -1 after a name.
            raise _fail("不支持算术表达式", "arithmetic is not supported", pos)
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "", n))
    return tokens


def _wkt_end(text: str, pos: int) -> int | None:
    """End of a WKT body starting after its type word: optional Z/M/ZM, then balanced ()."""
    m = re.compile(r"\s*(?:ZM|Z|M)?\s*\(").match(text, pos)
    if m is None:
        return None
    depth = 0
    i = m.end() - 1
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        elif not (c.isdigit() or c in " \t\r\n,.+-eE"):
            return None
        i += 1
    return None


# ---------------------------------------------------------------------------------------------
# AST


@dataclass(frozen=True)
class Prop:
    name: str
    pos: int


@dataclass(frozen=True)
class Lit:
    kind: str  # string, number, boolean, date
    value: Any
    pos: int


@dataclass(frozen=True)
class GeomLit:
    geom: BaseGeometry  # coordinates as written (axis order of the filter CRS)
    pos: int


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Like:
    value: Any
    pattern: Any
    negate: bool
    nocase: bool


@dataclass(frozen=True)
class Between:
    value: Any
    low: Any
    high: Any
    negate: bool


@dataclass(frozen=True)
class In:
    value: Any
    items: tuple[Any, ...]
    negate: bool


@dataclass(frozen=True)
class IsNull:
    value: Any
    negate: bool


@dataclass(frozen=True)
class Spatial:
    func: str
    left: Any
    right: Any


@dataclass(frozen=True)
class And:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    arg: Any


@dataclass(frozen=True)
class BoolConst:
    value: bool


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # token helpers
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def at_word(self, *words: str) -> bool:
        return self.peek().upper in words

    def expect_punct(self, p: str) -> Token:
        tok = self.take()
        if tok.kind != "punct" or tok.text != p:
            raise _fail(f"此处应为 {p!r}", f"expected {p!r}, found {tok.text or 'end'!r}", tok.pos)
        return tok

    def expect_word(self, w: str) -> Token:
        tok = self.take()
        if tok.upper != w:
            raise _fail(f"此处应为 {w}", f"expected {w}, found {tok.text or 'end'!r}", tok.pos)
        return tok

    # grammar
    def parse(self) -> Any:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "eof":
            raise _fail(f"多余的内容 {tok.text!r}", f"unexpected {tok.text!r}", tok.pos)
        return node

    def or_expr(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail("嵌套过深", "expression nested too deeply", self.peek().pos)
        args = [self.and_expr()]
        while self.at_word("OR"):
            self.take()
            args.append(self.and_expr())
        self.depth -= 1
        return args[0] if len(args) == 1 else Or(tuple(args))

    def and_expr(self) -> Any:
        args = [self.not_expr()]
        while self.at_word("AND"):
            self.take()
            args.append(self.not_expr())
        return args[0] if len(args) == 1 else And(tuple(args))

    def not_expr(self) -> Any:
        if self.at_word("NOT"):
            self.take()
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Any:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            # "(" starts a nested boolean expression; a parenthesised scalar is not CQL2.
            self.take()
            node = self.or_expr()
            self.expect_punct(")")
            return node
        if tok.upper in SPATIAL_FUNCTIONS and self.peek(1).text == "(":
            self.take()
            self.take()
            left = self.geom_operand()
            self.expect_punct(",")
            right = self.geom_operand()
            self.expect_punct(")")
            return Spatial(tok.upper, left, right)
        if tok.upper in ("TRUE", "FALSE") and not self._starts_predicate(1):
            self.take()
            return BoolConst(tok.upper == "TRUE")
        return self.predicate()

    def _starts_predicate(self, k: int) -> bool:
        t = self.peek(k)
        return t.kind == "op" or t.upper in ("LIKE", "ILIKE", "BETWEEN", "IN", "IS", "NOT")

    def predicate(self) -> Any:
        left = self.scalar()
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            return Cmp(_COMPARISON[tok.text], left, self.scalar())
        negate = False
        if tok.upper == "IS":
            self.take()
            if self.at_word("NOT"):
                self.take()
                negate = True
            self.expect_word("NULL")
            return IsNull(left, negate)
        if tok.upper == "NOT":
            self.take()
            negate = True
            tok = self.peek()
        if tok.upper in ("LIKE", "ILIKE"):
            self.take()
            return Like(left, self.scalar(), negate, nocase=tok.upper == "ILIKE")
        if tok.upper == "BETWEEN":
            self.take()
            low = self.scalar()
            self.expect_word("AND")
            return Between(left, low, self.scalar(), negate)
        if tok.upper == "IN":
            self.take()
            self.expect_punct("(")
            items = [self.scalar()]
            while self.peek().text == ",":
                self.take()
                items.append(self.scalar())
            self.expect_punct(")")
            return In(left, tuple(items), negate)
        raise _fail(
            "此处应为比较运算符", f"expected a comparison, found {tok.text or 'end'!r}", tok.pos
        )

    def scalar(self) -> Any:
        tok = self.take()
        if tok.kind == "string":
            return Lit("string", tok.text[1:-1].replace("''", "'"), tok.pos)
        if tok.kind == "number":
            try:
                value = Decimal(tok.text)
            except InvalidOperation as exc:  # pragma: no cover - the regex admits valid only
                raise _fail("数字无效", "invalid number", tok.pos) from exc
            if not value.is_finite() or abs(value.adjusted()) > 100:
                raise _fail("数字超出范围", "number out of range", tok.pos)
            return Lit("number", value, tok.pos)
        if tok.kind == "qident":
            return Prop(tok.text[1:-1].replace('""', '"'), tok.pos)
        if tok.kind == "word":
            up = tok.upper
            if up in ("TRUE", "FALSE"):
                return Lit("boolean", up == "TRUE", tok.pos)
            if up in ("DATE", "TIMESTAMP") and self.peek().text == "(":
                self.take()
                arg = self.take()
                if arg.kind != "string":
                    raise _fail(f"{up}() 需要字符串", f"{up}() takes a string", arg.pos)
                self.expect_punct(")")
                return Lit("date", parse_date(arg.text[1:-1], arg.pos, up), tok.pos)
            if self.peek().text == "(":
                raise _fail(f"不支持的函数 {tok.text}", f"unsupported function {tok.text}", tok.pos)
            if up in _KEYWORDS:
                raise _fail(
                    f"此处不能用关键字 {tok.text}", f"unexpected keyword {tok.text}", tok.pos
                )
            return Prop(tok.text, tok.pos)
        if tok.kind == "eof":
            raise _fail("表达式不完整", "unexpected end of filter", tok.pos)
        raise _fail(f"此处不能用 {tok.text!r}", f"unexpected {tok.text!r}", tok.pos)

    def geom_operand(self) -> Any:
        tok = self.peek()
        if tok.kind == "wkt":
            self.take()
            try:
                geom = shapely.wkt.loads(tok.text)
            except Exception as exc:  # shapely raises GEOSException / ValueError variants
                raise _fail("WKT 几何无效", "invalid WKT geometry", tok.pos) from exc
            return GeomLit(_check_geom(geom, tok.pos), tok.pos)
        if tok.upper == "BBOX" and self.peek(1).text == "(":
            self.take()
            self.take()
            nums = []
            while True:
                t = self.take()
                if t.kind != "number":
                    raise _fail("BBOX 需要数字", "BBOX takes numbers", t.pos)
                nums.append(float(t.text))
                if self.peek().text == ",":
                    self.take()
                    continue
                break
            self.expect_punct(")")
            if len(nums) not in (4, 6):
                raise _fail("BBOX 需要 4 个数", "BBOX takes 4 (or 6) numbers", tok.pos)
            if len(nums) == 6:
                nums = [nums[0], nums[1], nums[3], nums[4]]
            x1, y1, x2, y2 = nums
            if x1 > x2 or y1 > y2:
                raise _fail("BBOX 最小值大于最大值", "BBOX minimum exceeds maximum", tok.pos)
            return GeomLit(_check_geom(shapely.box(x1, y1, x2, y2), tok.pos), tok.pos)
        if tok.kind in ("word", "qident"):
            self.take()
            name = tok.text if tok.kind == "word" else tok.text[1:-1].replace('""', '"')
            if tok.kind == "word" and tok.upper in _KEYWORDS:
                raise _fail(
                    f"此处应为几何 {tok.text}", f"expected a geometry, found {tok.text}", tok.pos
                )
            return Prop(name, tok.pos)
        raise _fail("此处应为几何", f"expected a geometry, found {tok.text or 'end'!r}", tok.pos)


def parse_date(text: str, pos: int, kind: str = "DATE") -> dt.date:
    """A calendar date; GDAL writes ``2024-01-01T`` for a date-only timestamp.

    >>> parse_date("2024-01-01T", 0), parse_date("2024-02-29T23:00:00Z", 0)
    (datetime.date(2024, 1, 1), datetime.date(2024, 2, 29))
    """
    t = text.strip().rstrip("T")
    try:
        if len(t) > 10:
            return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).date()
        return dt.date.fromisoformat(t)
    except ValueError as exc:
        raise _fail(f"日期无效 {text!r}", f"invalid date {text!r}", pos) from exc


def _check_geom(geom: BaseGeometry, pos: int) -> BaseGeometry:
    if geom.is_empty:
        raise _fail("几何为空", "empty geometry", pos)
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise _fail("坐标无效", "non-finite coordinate", pos)
    if len(coords) > 10_000:
        raise _fail("几何顶点过多", "geometry has too many vertices", pos)
    return geom


def parse(text: str) -> Any:
    """Parse CQL2 text into an AST (raises ``InvalidInput`` with the position on error)."""
    if not text or not text.strip():
        raise _fail("过滤条件为空", "empty filter")
    if len(text) > MAX_FILTER_LENGTH:
        raise _fail("过滤条件过长", "filter too long")
    return _Parser(text).parse()


# ---------------------------------------------------------------------------------------------
# SQL generation

_KIND_CAST = {"string": "text", "number": "numeric", "boolean": "boolean", "date": "date"}


def prop_kind(collection: Collection, name: str) -> str:
    """Kind of a public property: string, number, boolean, date (registry types)."""
    p = collection.prop(name)
    assert p is not None
    if p.format == "date":
        return "date"
    return {"integer": "number"}.get(p.type, p.type)


class _Compiler:
    def __init__(self, collection: Collection, filter_crs: Crs, geom_sql: str) -> None:
        self.c = collection
        self.crs = filter_crs
        self.geom_sql = geom_sql
        self.params: list[Any] = []

    def bind(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"%s::{cast}"

    def prop(self, node: Prop) -> tuple[str, str]:
        if node.name == GEOMETRY_PROPERTY:
            raise _fail(
                "几何属性只能用于空间函数",
                "the geometry property is only allowed in spatial functions",
                node.pos,
            )
        if self.c.prop(node.name) is None:
            raise _fail(
                f"未知属性 {node.name!r}",
                f"unknown property {node.name!r} (see /queryables)",
                node.pos,
            )
        return f"({self.c.expr(node.name)})", prop_kind(self.c, node.name)

    def scalar(self, node: Any, want: str | None) -> tuple[str, str]:
        """SQL and kind of a scalar operand; literals are bound, cast to ``want`` if known."""
        if isinstance(node, Prop):
            return self.prop(node)
        assert isinstance(node, Lit)
        kind = node.kind
        value = node.value
        if want == "date" and kind == "string":
            value, kind = parse_date(value, node.pos), "date"
        if want is not None and kind != want:
            raise _fail(
                f"类型不符：需要 {want}，得到 {kind}",
                f"type mismatch: expected {want}, got {kind}",
                node.pos,
            )
        return self.bind(value, _KIND_CAST[kind]), kind

    def pair(self, a: Any, b: Any) -> tuple[str, str, str]:
        """Two operands with a common kind (the property decides a literal's type)."""
        if isinstance(a, Prop) or not isinstance(b, Prop):
            sa, ka = self.scalar(a, None)
            sb, kb = self.scalar(b, ka)
        else:
            sb, kb = self.scalar(b, None)
            sa, ka = self.scalar(a, kb)
        return sa, sb, ka

    def geom(self, node: Any) -> str:
        if isinstance(node, Prop):
            if node.name != GEOMETRY_PROPERTY:
                raise _fail(
                    f"{node.name!r} 不是几何属性",
                    f"{node.name!r} is not the geometry property (use {GEOMETRY_PROPERTY!r})",
                    node.pos,
                )
            return self.geom_sql
        if isinstance(node, GeomLit):
            geom = node.geom
            if self.crs.north_first:
                # Clients write the filter-crs's axis order; PostGIS wants x=east.
                geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
            if self.crs.geographic:
                xs, ys = shapely.get_coordinates(geom).T
                if (abs(xs) > 180).any() or (abs(ys) > 90).any():
                    raise _fail("经纬度超出范围", "longitude/latitude out of range", node.pos)
            wkt = shapely.to_wkt(geom, rounding_precision=-1)
            self.params.append(wkt)
            if self.crs.srid == STORE_SRID:
                return f"ST_GeomFromText(%s, {STORE_SRID})"
            return f"ST_Transform(ST_GeomFromText(%s, {int(self.crs.srid)}), {STORE_SRID})"
        raise _fail("此处应为几何", "expected a geometry", getattr(node, "pos", None))

    def node(self, n: Any) -> str:
        if isinstance(n, And):
            return "(" + " AND ".join(self.node(a) for a in n.args) + ")"
        if isinstance(n, Or):
            return "(" + " OR ".join(self.node(a) for a in n.args) + ")"
        if isinstance(n, Not):
            return f"(NOT {self.node(n.arg)})"
        if isinstance(n, BoolConst):
            return "TRUE" if n.value else "FALSE"
        if isinstance(n, Cmp):
            sa, sb, kind = self.pair(n.left, n.right)
            if kind == "boolean" and n.op not in ("=", "<>"):
                raise _fail("布尔值只能比较相等", "booleans compare with = or <> only")
            return f"({sa} {n.op} {sb})"
        if isinstance(n, IsNull):
            if not isinstance(n.value, Prop):
                raise _fail(
                    "IS NULL 需要属性", "IS NULL takes a property", getattr(n.value, "pos", None)
                )
            sa, _ = self.prop(n.value)
            return f"({sa} IS {'NOT ' if n.negate else ''}NULL)"
        if isinstance(n, Like):
            sa, sb, kind = self.pair(n.value, n.pattern)
            if kind != "string":
                raise _fail("LIKE 只能用于字符串", "LIKE applies to strings only")
            op = "ILIKE" if n.nocase else "LIKE"
            return f"({sa} {'NOT ' if n.negate else ''}{op} {sb})"
        if isinstance(n, Between):
            sa, sl, kind = self.pair(n.value, n.low)
            sh, _ = self.scalar(n.high, kind)
            if kind not in ("number", "date"):
                raise _fail("BETWEEN 只能用于数字或日期", "BETWEEN applies to numbers and dates")
            return f"({sa} {'NOT ' if n.negate else ''}BETWEEN {sl} AND {sh})"
        if isinstance(n, In):
            sa, kind = self.scalar(n.value, None)
            items = [self.scalar(i, kind)[0] for i in n.items]
            return f"({sa} {'NOT ' if n.negate else ''}IN ({', '.join(items)}))"
        if isinstance(n, Spatial):
            return f"{SPATIAL_FUNCTIONS[n.func]}({self.geom(n.left)}, {self.geom(n.right)})"
        raise _fail("不支持的表达式", "unsupported expression")  # pragma: no cover


def to_sql(
    ast: Any, collection: Collection, filter_crs: Crs = DEFAULT, geom_sql: str = "t.geom"
) -> tuple[str, list[Any]]:
    """Compile a parsed filter to a SQL boolean expression and its parameters.

    Parameters
    ----------
    ast : object
        From :func:`parse`.
    collection : Collection
        The public collection; only its registry properties may be named.
    filter_crs : Crs
        The CRS (and axis order) of geometry literals.
    geom_sql : str
        SQL of the stored geometry column (EPSG:4490).

    Returns
    -------
    (str, list)
        A SQL fragment with ``%s`` placeholders (identifiers only from the registry) and the
        values to bind, in order.
    """
    comp = _Compiler(collection, filter_crs, geom_sql)
    return comp.node(ast), comp.params


def compile_filter(
    text: str, collection: Collection, filter_crs: Crs = DEFAULT, geom_sql: str = "t.geom"
) -> tuple[str, list[Any]]:
    """:func:`parse` then :func:`to_sql`."""
    return to_sql(parse(text), collection, filter_crs, geom_sql)
