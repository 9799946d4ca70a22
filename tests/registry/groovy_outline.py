"""Parse a Jenkinsfile with tree-sitter's Groovy grammar and print its outline as JSON.

Runs in the ``groovy-parser`` tool environment (see tests/tool_venv.py), not the
project's: ``python groovy_outline.py Jenkinsfile``. Prints::

    {"errors": ["line 3: ..."], "top": ["agent", "options", ...],
     "stages": [{"name": "Install", "when": null, "calls": ["sh"], "sh": ["..."]}]}

String literals are decoded by Groovy's rules from the parser's own tokens, so ``sh``
holds exactly the text the shell would receive.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import tree_sitter_groovy
from tree_sitter import Language, Node, Parser

ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "s": " ",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "$": "$",
}


def text(node: Node) -> str:
    return (node.text or b"").decode()


def unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "\n":  # a line continuation
                i += 2
                continue
            if nxt not in ESCAPES:
                raise ValueError(f"not a Groovy escape: \\{nxt}")
            out.append(ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def literal(node: Node) -> str | None:
    """The value of a single-quoted string literal; None for anything else (a GString
    with ``$`` would be interpolated by Groovy, so it has no fixed value)."""
    raw = text(node)
    for quote in ("'''", "'"):
        if raw.startswith(quote) and raw.endswith(quote) and len(raw) >= 2 * len(quote):
            return unescape(raw[len(quote) : -len(quote)])
    return None


def errors(node: Node) -> list[str]:
    found = []
    if node.type == "ERROR" or node.is_missing:
        found.append(f"line {node.start_point[0] + 1}: {node.type} {text(node)[:60]!r}")
    for child in node.children:
        found += errors(child)
    return found


def calls(node: Node) -> list[Node]:
    """Direct calls inside a closure: ``name { ... }``, ``name(...)``, ``name 'arg'``."""
    out = []
    for child in node.children:
        if child.type == "expression_statement":
            child = child.children[0]
        if child.type in ("method_invocation", "juxt_function_call", "local_variable_declaration"):
            out.append(child)
    return out


def name_of(call: Node) -> str:
    # `agent any` parses as a declaration; its "type" is the name all the same.
    return text(call.children[0])


def closure_of(call: Node) -> Node | None:
    return next((c for c in call.children if c.type == "closure"), None)


def arguments(call: Node) -> list[Node]:
    args = next((c for c in call.children if c.type == "argument_list"), None)
    if args is None:
        return []
    return [c for c in args.children if c.type not in ("(", ")", ",")]


def outline(source: bytes) -> dict[str, Any]:
    tree = Parser(Language(tree_sitter_groovy.language())).parse(source)
    result: dict[str, Any] = {"errors": errors(tree.root_node), "top": [], "stages": []}
    pipelines = [c for c in calls(tree.root_node) if name_of(c) == "pipeline"]
    body = closure_of(pipelines[0]) if len(pipelines) == 1 else None
    if body is None:
        result["errors"].append(f"expected one `pipeline {{ ... }}` block, found {len(pipelines)}")
        return result
    for call in calls(body):
        result["top"].append(name_of(call))
        if name_of(call) != "stages":
            continue
        stages = closure_of(call)
        assert stages is not None
        for stage in calls(stages):
            (title,) = arguments(stage)
            entry: dict[str, Any] = {"name": literal(title), "when": None, "calls": [], "sh": []}
            inner = closure_of(stage)
            assert inner is not None
            for part in calls(inner):
                if name_of(part) == "when":
                    entry["when"] = text(part)
                if name_of(part) != "steps":
                    continue
                steps = closure_of(part)
                assert steps is not None
                for step in calls(steps):
                    entry["calls"].append(name_of(step))
                    if name_of(step) == "sh":
                        args = arguments(step)
                        entry["sh"].append(literal(args[0]) if len(args) == 1 else None)
            result["stages"].append(entry)
    return result


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as fh:
        print(json.dumps(outline(fh.read())))
