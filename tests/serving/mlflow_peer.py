"""MLflow beside Cairn: a venv holding MLflow (made once, reused) and its model server.

The venv lives under ``$CAIRN_TEST_CACHE`` (default ``~/.cache/cairn-tests``) as
``mlflow-venv``; a ``.requirements`` file inside says what was installed, so a changed
requirement rebuilds it. Making it needs the package index; when it cannot be made the
caller skips with the reason.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

MLFLOW = "mlflow==3.17.2"


def requirements() -> list[str]:
    import sklearn

    # The same scikit-learn as Cairn's, so both fit the same model from the same data.
    return [MLFLOW, f"scikit-learn=={sklearn.__version__}"]


def cache_dir() -> Path:
    return Path(os.environ.get("CAIRN_TEST_CACHE", Path.home() / ".cache" / "cairn-tests"))


def mlflow_python(timeout: float = 900) -> Path:
    """The MLflow venv's python, made first if needed. Raises RuntimeError with the reason
    when pip cannot install it (no network, no matching wheel)."""
    venv = cache_dir() / "mlflow-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(requirements()) + "\n"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "mlflow-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs never build it at once
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", "--clear", str(venv)], timeout)
        _run([str(python), "-m", "pip", "install", "--quiet", *requirements()], timeout)
        stamp.write_text(wanted)
    return python


def _run(cmd: list[str], timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd[:4])} took over {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {' | '.join(tail)}")


def start_mlflow(python: Path, model_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """``mlflow models serve`` for ``model_dir`` in this venv (its bin on PATH: MLflow
    starts uvicorn by name)."""
    bindir = python.parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)  # Cairn's tree is not MLflow's business
    cmd = [str(bindir / "mlflow"), "models", "serve", "-m", str(model_dir)]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "-w", "1"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, deadline: float) -> None:
    """Wait until ``GET path`` answers 200, the process dies or ``deadline`` passes."""
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"server on port {port} did not start: {err.decode()[-1500:]}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.communicate(timeout=10)
