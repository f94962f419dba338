"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api import metrics, problems
from api.auth import ROLES
from api.deps import command_context, command_header_parameters, principal
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
from infra.collector import settle_collector


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
        settle_collector()
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
        # First: routes are matched in this order, one after another, and Stripe's
        # deliveries are the most frequent requests (matching them last was two thirds of
        # the API's work on each).
        stripe_webhooks.router,
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
        if _depends_on(route.dependant, command_context):
            # Idempotent: the routers are the modules', and every app made documents them.
            extra = route.openapi_extra.get("parameters", [])
            declared = _headers_of(route.dependant) | {p["name"] for p in extra}
            route.openapi_extra["parameters"] = extra + command_header_parameters(declared)
        note = "Roles: " + ", ".join(roles) + "." if roles else "Roles: any; no API key needed."
        if "x-auth" in route.openapi_extra:
            note = f"Roles: none; no API key: authenticated by its {route.openapi_extra['x-auth']}."
        if route.description.endswith(note):  # documented by an app made before
            continue
        route.description = f"{route.description}\n\n{note}" if route.description else note


def _depends_on(dependant: Dependant, call: Callable[..., object]) -> bool:
    return any(dep.call is call or _depends_on(dep, call) for dep in dependant.dependencies)


def _headers_of(dependant: Dependant) -> set[str]:
    """The headers declared as parameters anywhere in the dependency tree."""
    declared = {field.alias for field in dependant.header_params}
    return declared.union(*(_headers_of(dep) for dep in dependant.dependencies))


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
