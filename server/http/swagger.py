"""`/api/docs`: Swagger UI on `/api/openapi.json`, served offline from the `swagger-ui-bundle` package's
files (no CDN), so "Try it out" works on an air-gapped installation.

The bundled Swagger UI (4.15) reads OpenAPI 3.0 only: `static/swagger-init.js` fetches the 3.1
description and hands it over labelled 3.0.3, which it then renders (JSON Schema's `null` types show as
plain types there). Clients and tools read the real 3.1 document at `/api/openapi.json`.
"""
from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from aiohttp import web

#: where the assets are served from
ASSETS = "/api/docs/assets"
ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Vigil API</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="/api/openapi.json"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

routes = web.RouteTableDef()


@routes.get("/api/docs")
async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-cache"})


routes.static(ASSETS, ASSETS_DIR, show_index=False, follow_symlinks=False)
