"""The rule expressions of ``2025-11-20`` filtering rules: a small subset of Fingerprint's
expression language, enough to tell a valid rule from an invalid one and to answer a test.

Supported (from the expression-language reference): the data fields in `FIELDS`, header
lookup ``http.request.headers["user-agent"]``, strings in single or double quotes, numbers,
``true``/``false``, lists ``[...]``, ``cidr('10.0.0.0/8')``; the operators ``== != < > <=
>=``, ``in`` / ``not in`` (a list or a CIDR range), ``contains``, ``startsWith``,
``endsWith``, ``matches`` (a regular expression); ``and``/``&&``, ``or``/``||``,
``not``/``!`` and parentheses. An unknown field or function makes the expression invalid, as
in the dashboard. A missing value (a header not sent) is ``None`` and matches nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

FIELDS = frozenset(
    {
        "http.user_agent.is_ai_bot",
        "http.user_agent.is_crawler_bot",
        "http.user_agent.string",
        "http.request.headers",
        "http.request.ip",
        "sdk.platform.name",
        "sdk.version",
        "sdk.platform.app_package_name",
        "sdk.platform.is_android",
        "sdk.platform.is_browser",
        "sdk.platform.is_ios",
        "sdk.platform.is_unknown",
    }
)

Facts = Mapping[str, Any]
Node = Callable[[Facts], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_WORDS = {"and": "&&", "or": "||", "not": "!"}
_COMPARISONS = {"==", "!=", "<", ">", "<=", ">=", "in", "contains", "startsWith", "endsWith"}
_AI_BOTS = re.compile(r"GPTBot|ChatGPT|ClaudeBot|anthropic-ai|PerplexityBot|CCBot", re.I)
_CRAWLERS = re.compile(r"bot\b|crawler|spider|slurp", re.I)


class ExpressionError(ValueError):
    """Why an expression is not valid."""


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = expression.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected character {text[position:].lstrip()[:1]!r}")
        kind = match.lastgroup
        assert kind is not None
        value = match.group(kind)
        if kind == "name" and value in _WORDS:
            kind, value = "op", _WORDS[value]
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; each rule returns a function of the facts."""

    def __init__(self, expression: str) -> None:
        self.tokens = _tokens(expression)
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            raise ExpressionError(
                f"expected {value or 'a value'} but found {token[1] or 'the end'}"
            )
        self.at += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("must not be empty")
        node = self.either()
        if self.peek()[0] != "end":
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")
        return node

    def either(self) -> Node:
        node = self.both()
        while self.peek() == ("op", "||"):
            self.take()
            node = _or(node, self.both())
        return node

    def both(self) -> Node:
        node = self.negation()
        while self.peek() == ("op", "&&"):
            self.take()
            node = _and(node, self.negation())
        return node

    def negation(self) -> Node:
        if self.peek() == ("op", "!"):
            self.take()
            inner = self.negation()
            return lambda f: not inner(f)
        return self.comparison()

    def comparison(self) -> Node:
        left = self.value()
        negated = False
        if self.peek() == ("op", "!") and self.tokens[self.at + 1 : self.at + 2] == [
            ("name", "in")
        ]:
            self.take()
            negated = True
        kind, operator = self.peek()
        if (kind, operator) == ("name", "matches"):
            self.take()
            pattern = self.value()
            return lambda f: _matches(left(f), pattern(f))
        if operator not in _COMPARISONS or kind == "string":
            if negated:
                raise ExpressionError("expected in after not")
            return left
        self.take()
        right = self.value()
        compare = _OPERATORS[operator]
        if negated:
            return lambda f: not compare(left(f), right(f))
        return lambda f: compare(left(f), right(f))

    def value(self) -> Node:
        kind, text = self.take()
        if kind == "string":
            literal = re.sub(r"\\(.)", r"\1", text[1:-1])
            return lambda f: literal
        if kind == "number":
            number = float(text)
            return lambda f: number
        if (kind, text) == ("op", "("):
            node = self.either()
            self.take(")")
            return node
        if (kind, text) == ("op", "["):
            items = [self.value()]
            while self.peek() == ("op", ","):
                self.take()
                items.append(self.value())
            self.take("]")
            return lambda f: [item(f) for item in items]
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false"):
            flag = text == "true"
            return lambda f: flag
        if self.peek() == ("op", "("):
            return self.call(text)
        return self.field(text)

    def call(self, function: str) -> Node:
        if function != "cidr":
            raise ExpressionError(f"unknown function {function}")
        self.take("(")
        kind, text = self.take()
        self.take(")")
        if kind != "string":
            raise ExpressionError("cidr takes a string such as '10.0.0.0/8'")
        try:
            network = ipaddress.ip_network(text[1:-1], strict=False)
        except ValueError:
            raise ExpressionError(f"{text} is not a CIDR range") from None
        return lambda f: network

    def field(self, name: str) -> Node:
        if name not in FIELDS:
            raise ExpressionError(f"unknown field {name}")
        if name != "http.request.headers":
            return lambda f: f.get(name)
        self.take("[")
        kind, text = self.take()
        self.take("]")
        if kind != "string":
            raise ExpressionError("a header is named by a string")
        header = text[1:-1].lower()
        return lambda f: (f.get(name) or {}).get(header)


def _or(left: Node, right: Node) -> Node:
    return lambda f: bool(left(f)) or bool(right(f))


def _and(left: Node, right: Node) -> Node:
    return lambda f: bool(left(f)) and bool(right(f))


def _within(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, ipaddress.IPv4Network | ipaddress.IPv6Network):
        try:
            return ipaddress.ip_address(str(needle)) in haystack
        except ValueError:
            return False
    return isinstance(haystack, list) and needle in haystack


def _text_op(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and test(a, b)


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return a is not None and b is not None and test(a, b)
        except TypeError:
            return False

    return compare


def _matches(value: Any, pattern: Any) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": _ordered(lambda a, b: a < b),
    ">": _ordered(lambda a, b: a > b),
    "<=": _ordered(lambda a, b: a <= b),
    ">=": _ordered(lambda a, b: a >= b),
    "in": _within,
    "contains": _text_op(lambda a, b: b in a),
    "startsWith": _text_op(lambda a, b: a.startswith(b)),
    "endsWith": _text_op(lambda a, b: a.endswith(b)),
}


def check_expression(expression: str) -> str | None:
    """Why ``expression`` is not valid, or None."""
    try:
        _Parser(expression).parse()
    except ExpressionError as error:
        return str(error)
    return None


def evaluate(expression: str, facts: Facts) -> bool:
    """Whether a valid ``expression`` matches the request described by ``facts``."""
    return bool(_Parser(expression).parse()(facts))


def facts_of(request: Mapping[str, Any]) -> dict[str, Any]:
    """The data fields of one identification request (a test payload in snake_case: ``ip``,
    ``headers``, ``user_agent``, ``sdk_platform``, ``sdk_version``, ``app_package_name``)."""
    headers = {
        str(name).lower(): (values[0] if isinstance(values, list) and values else values)
        for name, values in (request.get("headers") or {}).items()
    }
    agent = request.get("user_agent") or headers.get("user-agent") or ""
    platform = request.get("sdk_platform") or "unknown"
    return {
        "http.request.ip": request.get("ip"),
        "http.request.headers": headers,
        "http.user_agent.string": agent,
        "http.user_agent.is_ai_bot": bool(_AI_BOTS.search(agent)),
        "http.user_agent.is_crawler_bot": bool(_CRAWLERS.search(agent)),
        "sdk.platform.name": platform,
        "sdk.version": request.get("sdk_version"),
        "sdk.platform.app_package_name": request.get("app_package_name"),
        "sdk.platform.is_android": platform == "android",
        "sdk.platform.is_browser": platform == "js",
        "sdk.platform.is_ios": platform == "ios",
        "sdk.platform.is_unknown": platform not in ("js", "android", "ios"),
    }
