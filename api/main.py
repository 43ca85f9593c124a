"""FastAPI app: thin sync routes over the public cnncalc API; CnnCalcError -> 422."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import cnncalc

app = FastAPI(title="cnncalc", version=cnncalc.__version__,
              description="Closed-form shapes, parameters, MACs, memory and receptive fields "
                          "of CNNs.")


class AnalyzeRequest(BaseModel):
    """An architecture (DESIGN.md section 2) and optional integer bindings of its sizes."""

    architecture: dict[str, Any]
    bindings: dict[str, int] = Field(default_factory=dict)


@app.exception_handler(cnncalc.CnnCalcError)
def _cnncalc_error(request: Request, exc: cnncalc.CnnCalcError) -> JSONResponse:
    return JSONResponse(status_code=422, content=exc.to_dict())


@app.exception_handler(RequestValidationError)
def _request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errs = exc.errors()
    first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
    return JSONResponse(status_code=422, content={
        "error": "request", "message": f"{'/'.join(map(str, first.get('loc', [])))}: "
                                        f"{first.get('msg')}", "layer": None, "index": None,
        "path": [str(p) for p in first.get("loc", [])]})


@app.get("/health")
def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok", "version": cnncalc.__version__}


@app.post("/analyze")
def analyze(req: AnalyzeRequest) -> dict[str, Any]:
    """Analyse an architecture; numbers where bound, formulas elsewhere."""
    return cnncalc.analyze(req.architecture, req.bindings or None).to_dict()


@app.get("/zoo")
def zoo() -> list[str]:
    """Names of the reference architectures."""
    return list(cnncalc.zoo_names())


@app.get("/zoo/{name}")
def zoo_model(name: str) -> dict[str, Any]:
    """The architecture JSON of a zoo model."""
    return cnncalc.zoo_json(name)


@app.get("/schema")
def schema() -> dict[str, Any]:
    """JSON Schema of the architecture format."""
    return cnncalc.json_schema()
