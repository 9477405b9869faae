"""The page for a person: ``GET /`` on the prediction service, a form for one prediction.

The page (``static/form.html`` and ``form.js``) is built in the browser from what the service
already publishes: ``GET /metadata`` gives the served model's features (numbers with their
training range, categories with their levels), ``POST /predict`` answers with the prediction
and the model version, or with the field errors it refused. The page adds no rule of its own,
so it can never disagree with the API, and it knows nothing of how the model is loaded.
"""

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

STATIC = files("regpipe") / "static"
# Only this origin's script, style and fetches: no inline code, nothing from elsewhere.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff"}


def add_form_page(app: FastAPI) -> None:
    """Serve the form at ``/`` and its script and style beside it."""
    page = (STATIC / "form.html").read_text(encoding="utf-8")
    script = (STATIC / "form.js").read_text(encoding="utf-8")
    style = (STATIC / "form.css").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def form_page() -> HTMLResponse:
        return HTMLResponse(page, headers=HEADERS)

    @app.get("/form.js", include_in_schema=False)
    async def form_script() -> Response:
        return Response(script, media_type="text/javascript", headers=HEADERS)

    @app.get("/form.css", include_in_schema=False)
    async def form_style() -> Response:
        return Response(style, media_type="text/css", headers=HEADERS)
