"""The social icons the email footer shows, served from the organisation's own address (never a third party's,
which would see every reader who opens a message)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from bulletin.services import archive

router = APIRouter()


@router.get("/email/icons/{name}")
def email_icon(name: str):
    return Response(archive.icon(name), media_type="image/png", headers={"Cache-Control": "public, max-age=604800"})
