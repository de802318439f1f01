"""Session reports: content from Redis and the evidence folder (`data`), a chart (`chart`), a PDF (`pdf`).
Their HTTP routes are `server.http.routes.reports`."""
