"""Signing in and out, the language switch, and the static files: the pages a visitor reaches signed out."""

from __future__ import annotations

import math

from fastapi import Depends, Form, Request
from fastapi.responses import Response

from bulletin.services import accounts
from bulletin.services.accounts import Refused
from bulletin.states import Role
from bulletin.web.admin.access import (LANGUAGE_COOKIE, PREFIX, PUBLIC, SESSION_COOKIE, Visit, page, safe_next,
                                       visit, workspace)
from bulletin.web.admin.views import redirect, render, static_response


@page("/static/{name}", role=PUBLIC)
def static(name: str, request: Request):
    return static_response(request, name)


@page("/login", role=PUBLIC)
def sign_in_form(request: Request, next: str = "", signed_out: str = "", v: Visit = Depends(visit)):
    if v.account is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", "admin.login.title", next=safe_next(next), email="",
                  signed_out=bool(signed_out))


@page("/login", role=PUBLIC, methods=("POST",))
def sign_in(request: Request, email: str = Form(""), password: str = Form(""), next: str = Form(""),
            v: Visit = Depends(visit)):
    ws = workspace(request)
    old = request.cookies.get(SESSION_COOKIE, "")
    with ws.site.store.unit_of_work() as uow:
        result = accounts.sign_in(uow, email, password, ip=v.ip, now=v.now)
        if old and not isinstance(result, Refused):
            accounts.forget_session(uow, old)  # whatever the browser held before ends: a new session id
    if isinstance(result, Refused):
        if result.wait is not None:
            seconds = max(1, math.ceil(result.wait.total_seconds()))
            response = render(request, "login.html", "admin.login.title", status=429, next=safe_next(next),
                              email=email, error=("admin.login.throttled", {"seconds": seconds}))
            response.headers["Retry-After"] = str(seconds)
            return response
        return render(request, "login.html", "admin.login.title", status=401, next=safe_next(next), email=email,
                      error=("admin.login.refused", {}))
    response = redirect(safe_next(next))
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="lax", path=PREFIX,
                        secure=ws.secure_cookies)
    return response


@page("/logout", role=Role.EDITOR, methods=("POST",))
def sign_out(request: Request, v: Visit = Depends(visit)):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        accounts.sign_out(uow, request.cookies.get(SESSION_COOKIE, ""), ip=v.ip, now=v.now)
    response = redirect(f"{PREFIX}/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@page("/language", role=PUBLIC, methods=("POST",))
def switch_language(request: Request, language: str = Form(""), next: str = Form("")) -> Response:
    ws = workspace(request)
    response = redirect(safe_next(next))
    if language in ws.site.cfg.organisation.languages:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="lax",
                            path=PREFIX, secure=ws.secure_cookies)
    return response
