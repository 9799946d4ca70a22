"""URLs of the runs table: sort links per column, paging, and "compare all matching".

The table's whole state lives in its URL (see :class:`cairn.ui.runs.TableQuery`), so
each link is that state with one change.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from cairn.ui import runs as run_views

PREFIX = "/ui"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]+")
#: Runs the table's "compare all matching" link takes (the compare page's ``limit``).
COMPARE_ALL = 500


def sort_links(
    query: run_views.TableQuery, columns: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """For each sortable column, the URL sorting by it (a second click flips the
    direction), and the arrow of the column sorted now."""
    current = query.sort.strip().lower()
    links: dict[str, str] = {}
    arrows: dict[str, str] = {}
    for column in ["attributes.name", "attributes.start_time", *columns]:
        kind, _, name = column.partition(".")
        key = column if _PLAIN_KEY.fullmatch(name) else f"{kind}.`{name}`"
        descending = current == f"{key.lower()} desc"
        ascending = current in (key.lower(), f"{key.lower()} asc")
        order = f"{key} asc" if descending else f"{key} desc"
        links[column] = f"{PREFIX}/runs?" + urlencode(query.params(sort=order, token="", back=""))
        if descending or ascending:
            arrows[column] = " ▼" if descending else " ▲"
    return links, arrows


def table_links(query: run_views.TableQuery, data: dict[str, Any]) -> dict[str, str | None]:
    """Next, previous and first page of the table, as URL queries."""

    def url(**changes: Any) -> str:
        return f"{PREFIX}/runs?" + urlencode(query.params(**changes))

    next_token = data.get("next_token")
    links: dict[str, str | None] = {"first": url(token="", back=""), "next": None, "prev": None}
    if data.get("experiment"):
        picked = {"experiment": data["experiment"]["name"], "filter": query.filter}
        picked |= {"sort": query.sort, "limit": str(COMPARE_ALL)}
        links["compare"] = f"{PREFIX}/compare?" + urlencode({k: v for k, v in picked.items() if v})
        data["compare_limit"] = COMPARE_ALL
    if next_token:
        back = [*query.back, query.token or "-"][-run_views.MAX_BACK :]
        links["next"] = url(token=next_token, back=",".join(back))
    if query.token:
        previous = list(query.back)
        token = previous.pop() if previous else "-"
        links["prev"] = url(token="" if token == "-" else token, back=",".join(previous))
    return links
