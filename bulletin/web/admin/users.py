"""`/admin/users`: the accounts (admins only): add one, change a role, disable one behind a confirmation page.
The rules (the last admin stays, disabling ends the sessions) are services.accounts'."""

from __future__ import annotations

from fastapi import Depends, Form, Path, Request

from bulletin.services import accounts
from bulletin.services.errors import InputRefused
from bulletin.states import Role
from bulletin.web.admin.access import Visit, page, visit, workspace
from bulletin.web.admin.views import redirect, render, said, strings

UserId = Path(ge=1, le=2**31 - 1)
DONE = {"added", "disabled", "role"}


def _index(request: Request, *, status: int = 200, error=None, form=None):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        rows = accounts.list_users(uow)
    done = request.query_params.get("done")
    return render(request, "users.html", "admin.users.title", status=status, rows=rows, roles=list(Role),
                  error=error, form=form or {"role": Role.EDITOR}, min_password=accounts.MIN_PASSWORD,
                  notice=strings(request)(f"admin.done.user_{done}") if done in DONE else "")


@page("/users", role=Role.ADMIN)
def users_index(request: Request):
    return _index(request)


@page("/users", role=Role.ADMIN, methods=("POST",))
def add_user(request: Request, email: str = Form(""), role: str = Form(""), password: str = Form(""),
             v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        ws.site.store.run(accounts.add_user, email, role, password, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _index(request, status=400, error=(e.field, said(request, e.message)),
                      form={"email": email, "role": role})
    return redirect("/admin/users?done=added")


@page("/users/{user_id}/role", role=Role.ADMIN, methods=("POST",))
def change_role(request: Request, user_id: int = UserId, role: str = Form(""), v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            accounts.set_role(uow, user_id, role, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _refused(request, said(request, e.message))
    return redirect("/admin/users?done=role")


@page("/users/{user_id}/disable", role=Role.ADMIN)
def disable_question(request: Request, user_id: int = UserId):
    ws = workspace(request)
    with ws.site.store.unit_of_work() as uow:
        account = accounts.get_user(uow, user_id)
    return render(request, "confirm.html", "admin.users.disable.title",
                  question=strings(request)("admin.users.disable.question", email=account.email),
                  action=f"/admin/users/{user_id}/disable", button_key="admin.users.disable.button",
                  back="/admin/users")


@page("/users/{user_id}/disable", role=Role.ADMIN, methods=("POST",))
def disable_user(request: Request, user_id: int = UserId, v: Visit = Depends(visit)):
    ws = workspace(request)
    try:
        with ws.site.store.unit_of_work() as uow:
            accounts.get_user(uow, user_id)
            accounts.disable_user(uow, user_id, actor=v.actor, now=v.now)
    except InputRefused as e:
        return _refused(request, said(request, e.message))
    if user_id == v.account.id:
        return redirect("/admin/login")
    return redirect("/admin/users?done=disabled")


def _refused(request: Request, line: str):
    return render(request, "message.html", "admin.refused.title", status=409, lines=[line], back="/admin/users",
                  error=True)

