"""Run the labeling page under uvicorn: one process (SQLite is the only state, and every
answer is committed before the reply), stopped gracefully by Ctrl+C or SIGTERM."""

from __future__ import annotations

from qinglang.labeling.web.app import LabelServerSettings, create_label_app


def run_label_server(
    settings: LabelServerSettings, host: str = "127.0.0.1", port: int = 8765, access_log: bool = False
) -> None:
    """Serve until stopped. The app is built first, so an unusable database, batch or name
    raises LabelStoreError here, before anything listens."""
    import uvicorn

    app = create_label_app(settings)
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info", timeout_graceful_shutdown=5)
