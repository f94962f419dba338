"""The database refuses to change history: UPDATE, DELETE and TRUNCATE on the events
table (and on the checkpoints) raise, whoever asks, the table's owner included. Only a
superuser who first disables the triggers can alter a row, and the verifier exists to
catch exactly that.

The service itself runs as a role that can only read and append to the store
(:func:`service_role_statements`); the guard holds even if it were given more.
"""

from __future__ import annotations

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
    role: str, password: str | None, events_table: str, other_tables: list[str], server_version: int
) -> list[sql.Composable]:
    """Make (or bring up to date) the login role the service processes run as.

    On the store's tables it gets SELECT and INSERT only. The store's writer locks
    the events table in EXCLUSIVE mode to keep positions in commit order; PostgreSQL 17
    and later allow that with the MAINTAIN privilege, earlier versions only with UPDATE,
    DELETE or TRUNCATE, so there it gets UPDATE and the guard's trigger refuses any use
    of it. The role creates and owns its own read-model tables in the public schema.
    """
    name = sql.Identifier(role)
    login = (
        sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("LOGIN")
    )
    statements: list[sql.Composable] = [
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN "
            "CREATE ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE; END IF; END $$"
        ).format(sql.Literal(role), name),
        sql.SQL("ALTER ROLE {} ").format(name) + login,
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(name),
    ]
    lock = "MAINTAIN" if server_version >= 170000 else "UPDATE"
    statements.append(
        sql.SQL("GRANT SELECT, INSERT, {} ON {} TO {}").format(
            sql.SQL(lock), sql.Identifier(events_table), name
        )
    )
    statements.append(
        sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
            sql.Identifier(f"{events_table}_notification_id_seq"), name
        )
    )
    for table in other_tables:
        statements.append(
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(sql.Identifier(table), name)
        )
    return statements
