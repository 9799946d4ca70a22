"""MLflow's model server beside Cairn's, run from MLflow's own environment.

The environment is made (once, then reused) by ``tool_venv.tool_python("mlflow")``,
like every other third-party tool the tests run.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from pathlib import Path


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
