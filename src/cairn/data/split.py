"""Train/test splits that are deterministic and recorded in lineage.

Two ways to split:

- by permutation (``seed``): the same data and seed always give the same rows on each
  side; ``stratify`` keeps each class's share on both sides (per class, the test side
  takes ``round(test_size * n)`` of its rows).
- by hash (``by="customer_id"``): a row goes to the test side when the hash of its key
  (with ``seed`` as the hash key) falls below ``test_size``. A row then stays on the
  same side across dataset versions, whatever rows are added or removed around it, so
  a model trained on v3 is never tested on rows it saw. The test share is
  ``test_size`` on average rather than exactly.

Inside an active run, the split records its parameters (``<name>.test_size``, ...) and
lineage: the source as an input when the frame came from :func:`cairn.data.load` (else a
digest of its rows as the ``<name>.source_digest`` parameter), and the assignment of rows
to sides as an output artifact (``<name>/test_mask.npy``, True for test rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

HASH_BUCKETS = 1 << 32


def split(
    df: pd.DataFrame,
    test_size: float = 0.2,
    *,
    stratify: str | None = None,
    seed: int = 0,
    by: str | None = None,
    name: str = "split",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into (train, test).

    Args:
        df: the rows to split.
        test_size: share of rows for the test side, strictly between 0 and 1.
        stratify: a column whose classes keep their proportions on both sides.
        seed: the permutation seed, or the hash key with ``by``.
        by: a key column for a hash-based split (stable across dataset versions).
        name: prefix of the parameters recorded on the active run.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"id": range(10), "y": [0, 1] * 5})
        >>> train, test = split(df, 0.2, stratify="y", seed=1)
        >>> len(train), len(test), sorted(test["y"])
        (8, 2, [0, 1])
    """
    import numpy as np

    if not 0 < test_size < 1:
        raise InvalidInput(f"test_size must be between 0 and 1 (exclusive), got {test_size!r}")
    if stratify is not None and by is not None:
        raise InvalidInput(
            "pass either stratify= or by= (a hash split keeps rows by key, not by class)"
        )
    for column in (stratify, by):
        if column is not None and column not in df.columns:
            raise InvalidInput(
                f"no column {column!r} to split on; columns: {', '.join(map(str, df.columns))}"
            )
    n = len(df)
    if by is not None:
        test_mask = _hash_mask(df[by], test_size, seed)
    elif stratify is not None:
        rng = np.random.default_rng(seed)
        test_mask = np.zeros(n, dtype=bool)
        codes, _ = _factorize(df[stratify])
        for code in np.unique(codes):
            members = np.flatnonzero(codes == code)
            take = round(test_size * members.size)
            test_mask[rng.permutation(members)[:take]] = True
    else:
        rng = np.random.default_rng(seed)
        test_mask = np.zeros(n, dtype=bool)
        test_mask[rng.permutation(n)[: round(test_size * n)]] = True
    train, test = df[~test_mask], df[test_mask]
    _record(
        df, test_mask, name, {"test_size": test_size, "seed": seed, "stratify": stratify, "by": by}
    )
    return train, test


def _factorize(values: pd.Series) -> tuple[Any, Any]:
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, uniques


def _hash_mask(keys: pd.Series, test_size: float, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    key = f"{seed & 0xFFFFFFFFFFFFFFFF:016x}"  # pandas wants 16 characters
    hashed = pd.util.hash_pandas_object(keys, index=False, hash_key=key).to_numpy()
    buckets = (hashed >> np.uint64(32)).astype(np.float64)
    return buckets < test_size * HASH_BUCKETS


def frame_digest(df: pd.DataFrame) -> str:
    """A BLAKE3 digest of a frame's rows and column names (not its index)."""
    import pandas as pd

    from cairn.hashing import new_hasher

    hasher = new_hasher()
    hasher.update("\0".join(map(str, df.columns)).encode())
    hasher.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return str(hasher.hexdigest())


def _record(source: pd.DataFrame, test_mask: Any, name: str, params: dict[str, Any]) -> None:
    import io

    import numpy as np

    from cairn.tracking.fluent import active_run
    from cairn.types import RunIO

    run = active_run()
    if run is None:
        return
    recorded = {f"{name}.{k}": ("" if v is None else v) for k, v in params.items()}
    recorded[f"{name}.test_rows"] = int(test_mask.sum())
    recorded[f"{name}.train_rows"] = int(test_mask.size - test_mask.sum())
    origin = source.attrs.get("cairn.dataset")
    edges = []
    if isinstance(origin, dict) and origin.get("digest"):
        edges.append(
            RunIO("input", f"{name}.source", str(origin["ref"]), str(origin["digest"]), "dataset")
        )
    else:
        recorded[f"{name}.source_digest"] = frame_digest(source)
    run.log_params(recorded)
    # The assignment itself is stored (a NumPy boolean array, True = test row), so the
    # exact split can be restored from the run even without re-running this code.
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(test_mask, dtype=bool), allow_pickle=False)
    stored = run.client.workspace.artifacts.put_bytes(buffer.getvalue())
    edges.append(
        RunIO(
            "output",
            f"{name}.assignment",
            f"{name}/test_mask.npy",
            stored.digest,
            "file",
            stored.size,
        )
    )
    run.client.store.log_io(run.id, edges)
