"""Serves the dashboard page, its static files (no CDN: everything ships in the package) and API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from asktell.core.errors import NotFound
from asktell.dashboard.api import router as api_router
from asktell.dashboard.events import router as events_router
from asktell.dashboard.hypervolume import router as hypervolume_router
from asktell.dashboard.plots import router as plots_router
from asktell.dashboard.rank import router as rank_router
from asktell.dashboard.surrogate import router as surrogate_router
from asktell.dashboard.trials_csv import router as csv_router

STATIC = Path(__file__).parent / "static"

router = APIRouter()
pages = APIRouter(include_in_schema=False)


@pages.get("/")
def dashboard_index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@pages.get("/static/{name}")
def dashboard_static(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or not path.is_file():
        raise NotFound("no such file", field="name")
    media = "text/javascript" if path.suffix == ".js" else None
    return FileResponse(path, media_type=media, headers={"cache-control": "no-cache"})


router.include_router(pages)
router.include_router(api_router)
router.include_router(plots_router)
router.include_router(rank_router)
router.include_router(events_router)
router.include_router(surrogate_router)
router.include_router(hypervolume_router)
router.include_router(csv_router)
