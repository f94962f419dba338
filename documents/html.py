"""The HTML variant of statements and letters, from Jinja2 templates (autoescaped)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from documents.company import Company, amount_text, money_text
from documents.letters import Letter
from documents.statement import BUCKETS, Statement


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("documents", "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )
    env.filters["amount"] = amount_text
    env.filters["money"] = money_text
    return env


def render_statement(statement: Statement, company: Company) -> str:
    template = _environment().get_template("statement.html")
    return template.render(s=statement, company=company, buckets=BUCKETS)


def render_letter(letter: Letter, company: Company) -> str:
    return _environment().get_template("letter.html").render(letter=letter, company=company)
