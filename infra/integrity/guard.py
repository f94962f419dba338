"""The database refuses to change history: UPDATE, DELETE and TRUNCATE on the events
table (and on the checkpoints) raise, whoever asks, the table's owner included. Only a
superuser who first disables the triggers can alter a row, and the verifier exists to
catch exactly that.

The service itself runs as a role that can only read and append to the store, and is no
superuser (:func:`service_role_statements`); the guard holds even if it were given more.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

REFUSED_SQLSTATE = "P0001"


def append_only_statements(table: str) -> list[str]:
    function = f"{table}_append_only"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                USING HINT = 'history is corrected by appending new events, never by editing';
        END $$
        """,
        f"CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]


def service_role_statements(
    role: str,
    password: str | None,
    events_table: str,
    append_only: list[str],
    server_version: int,
    functions: Sequence[str] = (),
) -> list[sql.SQL | sql.Composed]:
    """Make (or bring up to date) the login role the service processes run as. Run by
    the schema's owner, after the schema is set up; idempotent.

    The role is no superuser (so it cannot ``SET session_replication_role = replica``
    to silence the guard), owns nothing and may create nothing: the owner sets the
    schema up, and the processes leave it alone (``infra.database.may_create``).
    It may read and write every table in the schema, now and later (default
    privileges on what the owner creates), except the history: on the events table
    and ``append_only`` (the checkpoints, the command marks...) only SELECT and INSERT.
    The store's writer locks the events table in EXCLUSIVE mode to keep positions in
    commit order; PostgreSQL 17 and later allow that with the MAINTAIN privilege,
    earlier versions only with UPDATE, DELETE or TRUNCATE, so there it gets UPDATE and
    the guard's trigger refuses any use of it. ``functions`` (with their argument types)
    it may execute.
    """
    name = sql.Identifier(role)
    statements = _login_role(role, password)
    dml = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
    statements += [
        # Before PostgreSQL 15 every role could create in public: not this one.
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(name),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(dml, name),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT {} ON TABLES TO {}").format(dml, name),
        sql.SQL("ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT ON SEQUENCES TO {}").format(name),
    ]
    for table in [events_table, *append_only]:
        statements.append(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(table), name))
        statements.append(
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sql.Identifier(table), name)
        )
    lock = "MAINTAIN" if server_version >= 170000 else "UPDATE"
    statements.append(
        sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(lock), sql.Identifier(events_table), name)
    )
    for function in functions:
        # A signature such as ``f(uuid, text)``: the caller's own constant, not input.
        statements.append(
            sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), name)
        )
    return statements


def _login_role(role: str, password: str | None) -> list[sql.SQL | sql.Composed]:
    """The role, made if missing, and held to no more than a login, whatever it was."""
    name = sql.Identifier(role)
    login = (
        sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("LOGIN")
    )
    return [
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN "
            "CREATE ROLE {}; END IF; END $$"
        ).format(sql.Literal(role), name),
        sql.SQL(
            "ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        ).format(name)
        + login,
    ]
