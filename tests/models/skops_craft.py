"""Edit the tree arrays inside a saved skops model, as someone crafting a hostile file would.

A skops file is a zip of ``schema.json`` and one ``.npy`` file per array. A scikit-learn
``Tree`` appears in the schema with ``"__class__": "Tree"``: its constructor arguments
(n_features, n_classes, n_outputs) under ``__reduce__.args`` and its state (max_depth,
node_count, nodes, values) under ``content.content``. A HistGradientBoosting
``TreePredictor`` is an object whose state holds ``nodes`` and two bitset arrays.
After editing, the model folder's manifest is rewritten to list the new digests, so the
file passes the integrity check and reaches the flavor.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cairn.models.manifest import list_files, read_manifest

Arrays = dict[str, np.ndarray]


class Archive:
    """The schema and arrays of one skops file, editable in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with zipfile.ZipFile(path) as zf:
            self.schema: dict[str, Any] = json.loads(zf.read("schema.json"))
            self.arrays: Arrays = {
                name: np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
                for name in zf.namelist()
                if name.endswith(".npy")
            }

    def nodes_of(self, cls: str) -> list[dict[str, Any]]:
        """Every schema node of class ``cls`` (``Tree`` or ``TreePredictor``), in order."""
        return list(_find(self.schema, cls))

    def array(self, node: dict[str, Any], key: str) -> np.ndarray:
        """The array stored under ``key`` in an object node's state (a writable copy)."""
        ref = node["content"]["content"][key]
        array = self.arrays[ref["file"]].copy()
        self.arrays[ref["file"]] = array
        return array

    def set_array(self, node: dict[str, Any], key: str, array: np.ndarray) -> None:
        self.arrays[node["content"]["content"][key]["file"]] = array

    def set_json(self, node: dict[str, Any], key: str, value: Any) -> None:
        """Set a plain value; it gets an id of its own, as skops reuses objects by id."""
        entry = node["content"]["content"][key]
        entry["content"] = json.dumps(value)
        entry["__id__"] = fresh_id()

    def save(self) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("schema.json", json.dumps(self.schema))
            for name, array in self.arrays.items():
                out = io.BytesIO()
                np.save(out, array, allow_pickle=False)
                zf.writestr(name, out.getvalue())
        self.path.write_bytes(buffer.getvalue())


_ids = iter(range(1, 1 << 30))


def fresh_id() -> int:
    """An object id no real skops file uses (real ones are memory addresses)."""
    return next(_ids)


def _find(doc: Any, cls: str) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict):
        if doc.get("__class__") == cls and "content" in doc:
            yield doc
        for value in doc.values():
            yield from _find(value, cls)
    elif isinstance(doc, list):
        for item in doc:
            yield from _find(item, cls)


def craft(model_dir: Path, edit: Callable[[Archive], None]) -> None:
    """Apply ``edit`` to ``model_dir/model.skops`` and re-list the files in the manifest."""
    archive = Archive(model_dir / "model.skops")
    edit(archive)
    archive.save()
    manifest = read_manifest(model_dir)
    replace(manifest, files=list_files(model_dir)).write(model_dir)
