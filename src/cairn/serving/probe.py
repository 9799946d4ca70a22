"""Try a model version in a child process before the server swaps to it.

Loading a model runs native code (scikit-learn's trees, boosters, onnxruntime) and, for
trusted formats, Python code from the file. A bad file can kill the process that loads
it or hang it. The server answering requests must not be that process, so before a
:class:`~cairn.serving.reload.ModelSlot` loads a new version it runs
``python -m cairn.serving.probe LOADER URI`` with the same loader, working directory,
import path and workspace: the child loads the version and predicts its saved input
example. Only a child that exits 0 in time lets the server load the version itself.

The loader is passed by name (``module:function``), so it must be a module-level
function; the default one is :func:`cairn.serving.reload.load_model`.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from cairn.errors import CairnError, ConfigError, InvalidInput

PROBE_TIMEOUT = 120.0
_OK, _REFUSED, _FAILED = 0, 2, 3


def loader_name(loader: Callable[[str], Any]) -> str:
    """``module:qualname`` of a module-level function; ``ConfigError`` otherwise."""
    module = getattr(loader, "__module__", None)
    qualname = getattr(loader, "__qualname__", "")
    if not module or module == "__main__" or not qualname or "<" in qualname:
        raise ConfigError(
            f"the model loader {loader!r} cannot be imported by name by a child process; "
            "use a function defined at module level in an importable module"
        )
    return f"{module}:{qualname}"


class ChildProbe:
    """Load and predict a model version in a child process; raise if that fails.

    Example:
        >>> ChildProbe(timeout=60)(load_model, "models:/churn/4")  # doctest: +SKIP
    """

    def __init__(self, timeout: float = PROBE_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._cancelled = False

    def __call__(self, loader: Callable[[str], Any], uri: str) -> None:
        """Return when a child loaded ``uri`` and predicted its input example.

        Raises:
            InvalidInput: the child crashed (the signal is named), hung past the
                timeout, or reported an error (its last line is quoted).
        """
        command = [sys.executable, "-m", "cairn.serving.probe", loader_name(loader), uri]
        with self._lock:
            if self._cancelled:
                raise InvalidInput(f"{uri}: not tried, the server is stopping")
            self._child = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_child_env()
            )
        child = self._child
        try:
            _, err = child.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise InvalidInput(
                f"{uri} did not load and predict its input example within {self.timeout:g}s "
                "in a test process (it may loop forever); it was not loaded here"
            ) from None
        finally:
            with self._lock:
                self._child = None
        code = child.returncode
        if code == _OK:
            return
        if code < 0:
            name = _signal_name(-code)
            raise InvalidInput(
                f"{uri} killed a test process with {name} while loading or predicting its "
                "input example; it was not loaded here"
            )
        lines = err.decode("utf-8", "replace").strip().splitlines()
        detail = lines[-1] if lines else f"exit code {code}"
        raise InvalidInput(f"{uri} failed in a test process: {detail}")

    def resume(self) -> None:
        """Accept new tries again after :meth:`cancel` (the server starts again)."""
        with self._lock:
            self._cancelled = False

    def cancel(self) -> None:
        """Kill a running child (the server is stopping) and refuse new ones."""
        with self._lock:
            self._cancelled = True
            if self._child is not None:
                self._child.kill()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _child_env() -> dict[str, str]:
    """This process's environment, import path and workspace, for the child."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    try:  # pin the workspace this process resolved (it may have been chosen in code)
        from cairn.config import ENV_ARTIFACT_URI, ENV_TRACKING_URI
        from cairn.workspace import current

        settings = current().settings
    except CairnError:  # a model directory served without a workspace
        return env
    if settings.tracking_uri:
        env[ENV_TRACKING_URI] = settings.tracking_uri
    if settings.artifact_uri:
        env[ENV_ARTIFACT_URI] = settings.artifact_uri
    return env


def run(loader: str, uri: str) -> int:
    """The child: load ``uri`` with ``loader`` and predict its input example."""
    module, _, qualname = loader.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    try:
        model = target(uri)
        example_of = getattr(model, "input_example", None)
        example = example_of() if callable(example_of) else None
        if example is not None:
            model.predict(example)
    except CairnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _REFUSED
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return _FAILED
    return _OK


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2]))
