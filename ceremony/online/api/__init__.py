"""REST API: routes (:mod:`.rest`), OpenAPI (:mod:`.openapi`), bearer tokens (:mod:`.tokens`)."""
