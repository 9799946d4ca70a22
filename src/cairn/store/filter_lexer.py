"""The lexer of the run search language (:mod:`cairn.store.filters`): text to tokens.

Numbers are checked here, where their position is known: integers must fit the signed
64-bit range the stores compare in, and other numbers must be finite.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from cairn.errors import FilterSyntaxError

#: Integers are stored and compared as signed 64-bit numbers.
MIN_INT, MAX_INT = -(2**63), 2**63 - 1

_BARE_KEY = re.compile(r"[\w./-]+")
_WORD = re.compile(r"[A-Za-z_]\w*")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")


@dataclass(frozen=True, slots=True)
class Token:
    kind: Literal["word", "field", "string", "number", "op", "(", ")", ",", "end"]
    text: str  # as written, for messages
    pos: int
    value: object = None  # str for strings/ops, int|float for numbers, (prefix, key) for fields


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))  # type: ignore[arg-type]
            i += 1
        elif ch in "'\"":
            i = _lex_string(text, i, tokens)
        elif ch.isdigit() or (ch in "-." and _NUMBER.match(text, i)):
            m = _NUMBER.match(text, i)
            if m is None:
                raise FilterSyntaxError(f"unexpected character {ch!r}", text, i)
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise FilterSyntaxError(f"malformed number {text[i : end + 1]!r}", text, i)
            literal = m.group()
            tokens.append(Token("number", literal, i, _number(text, literal, i)))
            i = end
        elif ch.isalpha() or ch == "_":
            i = _lex_name(text, i, tokens)
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise FilterSyntaxError(f"unexpected character {ch!r}", text, i)
            canonical = {"==": "=", "<>": "!="}.get(op, op)
            tokens.append(Token("op", op, i, canonical))
            i += len(op)
    tokens.append(Token("end", "", n))
    return tokens


def _number(text: str, literal: str, at: int) -> int | float:
    """The value of a number literal, refused outside what the stores can compare."""
    if re.fullmatch(r"-?\d+", literal):
        # Length first: int() of thousands of digits is slow, or refused by Python.
        if len(literal.lstrip("-").lstrip("0")) > 19 or not MIN_INT <= int(literal) <= MAX_INT:
            raise FilterSyntaxError(
                f"integer {literal[:30]}{'…' if len(literal) > 30 else ''} is outside the "
                f"64-bit range {MIN_INT} to {MAX_INT}",
                text,
                at,
            )
        return int(literal)
    value = float(literal)
    if math.isinf(value):
        raise FilterSyntaxError(
            f"number {literal[:30]} is too large (beyond ±1.8e308); write a finite number",
            text,
            at,
        )
    return value


def _lex_string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])  # only the quote and the backslash are escapes
            i += 2
        elif ch == quote:
            tokens.append(Token("string", text[start : i + 1], start, "".join(out)))
            return i + 1
        else:
            out.append(ch)
            i += 1
    raise FilterSyntaxError(f"unterminated string (missing closing {quote})", text, start)


def _lex_name(text: str, start: int, tokens: list[Token]) -> int:
    m = _WORD.match(text, start)
    assert m is not None  # the caller saw a letter or underscore
    i = m.end()
    if i >= len(text) or text[i] != ".":
        tokens.append(Token("word", m.group(), start))
        return i
    i += 1
    if i < len(text) and text[i] == "`":
        close = text.find("`", i + 1)
        if close < 0:
            raise FilterSyntaxError("unterminated `quoted key` (missing closing `)", text, i)
        key, end = text[i + 1 : close], close + 1
    else:
        km = _BARE_KEY.match(text, i)
        if km is None:
            raise FilterSyntaxError(
                f"missing key after '{m.group()}.' (quote odd keys in backticks)", text, i
            )
        key, end = km.group(), km.end()
    tokens.append(Token("field", text[start:end], start, (m.group(), key)))
    return end
