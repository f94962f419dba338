"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api import metrics, problems
from api.auth import ROLES
from api.deps import principal
from api.desk.install import install as install_desk
from api.door import Door
from api.routes import (
    account_imports,
    account_lists,
    accounts,
    api_keys,
    arrangements,
    audit,
    bank_statements,
    chasing,
    documents,
    health,
    integrity,
    invoice_imports,
    invoices,
    notice_preview,
    notifications,
    payment_imports,
    payment_reversals,
    payments,
    reconciliation,
    replay,
    reports,
    schemas,
    stripe_links,
    stripe_webhooks,
    worklist,
    write_offs,
)
from api.services import Services


def create_app(services: Services | Callable[[], Services]) -> FastAPI:
    """The API over ``services``: built already (a test, a benchmark), whose lifetime the
    caller owns; or a factory, the composition root's (``runtime/composition.py``), that
    the app calls as it starts and whose services it closes as it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(services, Services):
            app.state.services = services
            yield
            return
        app.state.services = services()
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(
        title="arledger",
        version="1.0.0",
        summary="Event-sourced accounts-receivable and collections ledger",
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(Door)  # inside the metrics: its refusals are counted
    metrics.install(app)
    problems.install_fallback(app)
    routers = (
        account_lists.router,
        account_imports.router,
        accounts.router,
        invoices.router,
        invoice_imports.router,
        chasing.router,
        notice_preview.router,
        documents.router,
        arrangements.router,
        payments.router,
        payment_imports.router,
        payment_reversals.router,
        schemas.router,
        write_offs.router,
        reports.router,
        worklist.router,
        audit.router,
        replay.router,
        integrity.router,
        api_keys.router,
        stripe_webhooks.router,
        stripe_links.router,
        reconciliation.router,
        bank_statements.router,
        notifications.router,
        health.router,
    )
    for router in routers:
        _document_roles(router)
        app.include_router(router)
    install_desk(app)
    return app


def _document_roles(router: APIRouter) -> None:
    """State on every route which roles may call it (``x-roles`` and the description),
    read off the guard among its dependencies."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        roles = _roles_of(route.dependant) or ()
        route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": list(roles)}
        note = "Roles: " + ", ".join(roles) + "." if roles else "Roles: any; no API key needed."
        if "x-auth" in route.openapi_extra:
            note = f"Roles: none; no API key: authenticated by its {route.openapi_extra['x-auth']}."
        route.description = f"{route.description}\n\n{note}" if route.description else note


def _roles_of(dependant: Dependant) -> tuple[str, ...] | None:
    """The narrowest role guard in the dependency tree; every role for an endpoint that
    only needs a valid key; None for an endpoint open to all (health, metrics)."""
    found: tuple[str, ...] | None = None
    for dep in dependant.dependencies:
        call = dep.call
        roles = getattr(call, "roles", None)
        if roles is None and call is principal:
            roles = ROLES
        inner = _roles_of(dep)
        for candidate in (roles, inner):
            if candidate is not None and (found is None or len(candidate) < len(found)):
                found = tuple(candidate)
    return found
