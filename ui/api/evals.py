"""The service's eval routes: an eval run's output folder (inside the ingestion roots) read
back for the web UI's dashboard (`eval.runs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from docqa.config import Settings
from eval.runs import EvalRunView, NotARunError, load_run, plot_file
from ui.api.errors import errors
from ui.api.roots import checked_path

RunPath = Annotated[str, Query(min_length=1, max_length=4096, description="The run's folder.")]


def evals_router(settings: Settings) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/evals", responses=errors(401, 403, 404, 422))
    async def get_run(path: RunPath) -> EvalRunView:
        """The run in the folder `path` (absolute, inside the ingestion roots): its summary,
        one record per (question, strategy) and the names of its plots."""
        folder = checked_path(settings, path)
        try:
            return await run_in_threadpool(load_run, folder)
        except NotARunError as e:
            raise HTTPException(404, str(e)) from None
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @router.get(
        "/v1/evals/plots/{name}",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}}, **errors(401, 403, 404, 422)},
    )
    def get_plot(name: str, path: RunPath) -> FileResponse:
        """One of the run's PNG plots, by the file name `GET /v1/evals` lists."""
        folder = checked_path(settings, path)
        try:
            return FileResponse(plot_file(folder, name), media_type="image/png")
        except FileNotFoundError as e:
            raise HTTPException(404, str(e)) from None

    return router
