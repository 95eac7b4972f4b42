"""The HTTP service: `create_app` assembles the FastAPI app from one router per endpoint
group; `app_from_env` is the factory uvicorn's workers call."""

from qinglang.serve.http.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
