"""The floor: a bare Starlette app calling ``model.predict``, run by uvicorn.

Usage: serving_bare.py PORT. Runs in the project venv. Same model as the other servers
(fitted on the same data as a plain array, so it takes the request's rows directly),
same uvicorn settings as ``cairn serve``; ``/invocations`` takes ``dataframe_split``
and answers ``{"predictions": [...]}``. No validation, metrics, logging or request ids:
the least a server can do.
"""

from __future__ import annotations

import sys


def main() -> None:
    port = int(sys.argv[1])
    import numpy as np
    import uvicorn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)

    async def invocations(request: Request) -> JSONResponse:
        payload = await request.json()
        rows = np.asarray(payload["dataframe_split"]["data"], dtype=np.float64)
        return JSONResponse({"predictions": model.predict(rows).tolist()})

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/invocations", invocations, methods=["POST"]), Route("/ping", ping)]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
