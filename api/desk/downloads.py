"""Downloads: any table the desk shows, as the API serves it in CSV or XLSX, for the
signed-in user (a link to ``/v1`` itself would carry no API key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.desk.common import InnerDep, UserDep, unavailable
from api.desk.render import page

router = APIRouter(include_in_schema=False)
FORMATS = ("csv", "xlsx", "pdf")
PASSED_ON = ("content-type", "content-disposition")


@router.get("/download/{path:path}")
async def download(request: Request, path: str, user: UserDep, api: InnerDep) -> Response:
    """``/download/v1/reports/aged-debt?format=xlsx&...``: the API's own file (a table in
    CSV or XLSX, a statement or a letter in PDF), passed on with its type and name. Only
    the API's GETs, and only what the user's role may read."""
    query = dict(request.query_params)
    if not path.startswith("v1/") or query.get("format") not in FORMATS:
        problem = {
            "title": "Not a download",
            "detail": "a download is /download/v1/<a list, report or document>?format=csv, "
            "xlsx or pdf",
        }
        return page(request, user, "problem.html", 404, problem=problem)
    answer = await api.get("/" + path, **query)
    if not answer.ok:
        return unavailable(request, user, answer)
    headers = {k: v for k, v in answer.headers.items() if k in PASSED_ON}
    return Response(answer.body, status_code=200, headers=headers)
