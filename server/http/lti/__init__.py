"""The LTI 1.3 tool (docs/lti.md): routes in `routes.py`, pylti1p3's aiohttp adapter in `adapter.py`, the
registrations and key in `registry.py`, the claims read as data in `claims.py` (pure), the pages in `pages.py`,
and the Learner's reloadable page pass in `page_pass.py` (pure)."""
