"""The REST API (FastAPI): the engine loaded once in the lifespan, thin routes, errors as JSON, a gate
for keys and load in front. Needs the ``[api]`` extra."""

from multimodal.api.server import create_app, serve
from multimodal.api.settings import ApiSettings, InsecureServerError

__all__ = ["ApiSettings", "InsecureServerError", "create_app", "serve"]
