"""Session reports: content from Redis and the evidence folder (`data`), a chart (`chart`), a PDF (`pdf`),
and their HTTP routes (`routes.register_report_routes`)."""
from server.reports.routes import register_report_routes

__all__ = ["register_report_routes"]
