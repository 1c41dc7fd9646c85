"""HTTP layer: routers per resource."""
