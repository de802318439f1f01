// Swagger UI on Vigil's OpenAPI description (server/http/swagger.py). The bundled Swagger UI reads
// OpenAPI 3.0 only: the 3.1 description is handed over labelled 3.0.3, which it renders.
"use strict";
(async () => {
  const root = document.getElementById("swagger-ui");
  const spec = await (await fetch(root.dataset.spec, { credentials: "same-origin" })).json();
  spec.openapi = "3.0.3";
  window.ui = SwaggerUIBundle({
    spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    withCredentials: true,
    validatorUrl: null,  // never send the description to validator.swagger.io (offline, and not theirs to see)
  });
})();
