"""Adding the desk to the FastAPI application."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.desk import (
    accounts,
    approvals,
    audit,
    bank,
    downloads,
    imports,
    payments,
    reports,
    signin,
    worklist,
)
from api.desk.common import install_handlers

STATIC = Path(__file__).parent / "static"
ROUTERS = (
    signin.router,
    payments.router,
    worklist.router,
    accounts.router,
    reports.router,
    bank.router,
    imports.router,
    approvals.router,
    audit.router,
    downloads.router,
)


def install(app: FastAPI) -> None:
    """Add the desk's pages to ``app``, after the API's routes (whose roles it reads)."""
    install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.state.desk_roles = None  # read from the OpenAPI document on first use
