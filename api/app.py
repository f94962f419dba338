"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import metrics, problems
from api.routes import (
    accounts,
    arrangements,
    audit,
    chasing,
    health,
    invoices,
    payment_reversals,
    payments,
    reports,
    schemas,
    worklist,
    write_offs,
)
from api.services import Services
from ledger.settings import Settings


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The API over the configured store; ``services`` may be given by a test or by
    ``arledger up``, which then owns their lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.start(settings or Settings())
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="arledger",
        version="1.0.0",
        summary="Event-sourced accounts-receivable and collections ledger",
        lifespan=lifespan,
    )
    problems.install(app)
    metrics.install(app)
    problems.install_fallback(app)
    routers = (
        accounts.router,
        invoices.router,
        chasing.router,
        arrangements.router,
        payments.router,
        payment_reversals.router,
        schemas.router,
        write_offs.router,
        reports.router,
        worklist.router,
        audit.router,
        health.router,
    )
    for router in routers:
        app.include_router(router)
    return app
