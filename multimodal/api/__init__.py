"""The REST API (FastAPI): the engine loaded once in the lifespan, thin routes, errors as JSON.
Needs the ``[api]`` extra."""

from multimodal.api.server import create_app, serve

__all__ = ["create_app", "serve"]
