"""Approval (issue 12: edits after `send --at` were silently ignored, the send having been rendered when it was
scheduled). `bulletin approve` records the folder's fingerprint, who and when; a scheduled send is rendered from
its folder when it fires, if the folder is still the version it was scheduled (or approved again) with; else it
waits, says why in `status`, and the team gets one alert. The time a send fires is given, not slept for."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil

import pytest
from sqlalchemy import select

from bulletin.cli import main
from bulletin.content.fingerprint import fingerprint
from bulletin.services import sends
from bulletin.services.store import Store
from bulletin.states import WaitReason
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Approval, Send
from tests.deliver_support import Recorder, SmtpServer, copy_issue, populate, smtp_toml

TEAM = "officer@imrap-mali.org"
ADDED = "Une phrase ajoutée après la programmation."


def _config(make_config, server, db_url, extra: str = ""):
    return make_config(smtp_toml(server.port) + f'\n[schedule]\nremind = ["{TEAM}"]\n' + extra, db_url=db_url)


def _schedule(cfg, issue, capsys) -> tuple[int, dt.datetime]:
    at = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    assert main(["--config", str(cfg.path), "send", str(issue), "--list", "news", "--at", at.isoformat()]) == 0
    capsys.readouterr()
    with session_scope(engine_for(cfg.database_url)) as s:
        return s.scalar(select(Send.id)), at


def _to(server, address: str):
    return [r.message for r in server.handler.received if r.rcpt == address]


def test_approve_records_the_fingerprint_who_and_when(sqlite_url, make_config, tmp_path, capsys):
    cfg = make_config("", db_url=sqlite_url)
    issue = copy_issue(tmp_path)
    before = dt.datetime.now(dt.timezone.utc)
    assert main(["--config", str(cfg.path), "approve", str(issue)]) == 0
    fp = fingerprint(issue, cfg)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"approved: {issue}, fingerprint {fp.digest[:12]} (11 files), by {getpass.getuser()} on ")
    assert out[1:] == [f"  {name}" for name in fp.files]
    with session_scope(engine_for(cfg.database_url)) as s:
        [row] = s.scalars(select(Approval)).all()
        assert (row.issue_slug, row.issue_dir, row.fingerprint, row.files, row.approved_by, row.source) == \
            ("2023-07", str(issue.resolve()), fp.digest, 11, getpass.getuser(), "cli")
        assert before <= row.approved_at <= dt.datetime.now(dt.timezone.utc)


def test_approve_a_folder_that_is_not_there(sqlite_url, make_config, tmp_path, capsys):
    cfg = make_config("", db_url=sqlite_url)
    assert main(["--config", str(cfg.path), "approve", str(tmp_path / "2026-13")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / '2026-13'}: no such issue folder\n"
    with session_scope(engine_for(cfg.database_url)) as s:
        assert s.scalars(select(Approval)).all() == []


def test_an_edit_after_send_at_waits_alerts_once_and_goes_when_approved_again(db_url, make_config, tmp_path, capsys):
    ids = populate(db_url, 3)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = _config(make_config, server, db_url)
        store = Store.open(cfg)
        send_id, at = _schedule(cfg, issue, capsys)
        mopti = issue / "news" / "02-mopti.md"
        mopti.write_text(mopti.read_text(encoding="utf-8") + f"\n{ADDED}\n", encoding="utf-8")

        assert sends.start_due(store, cfg, at - dt.timedelta(minutes=1)) == sends.DueSends()
        due = sends.start_due(store, cfg, at + dt.timedelta(minutes=1))
        assert due == sends.DueSends((), ((send_id, WaitReason.CHANGED),))
        [alert] = _to(server, TEAM)
        assert str(alert["Subject"]) == f"En attente\u00a0: l'envoi {send_id} du numéro 2023-07"
        body = alert.get_body(("plain",)).get_content()
        assert "un fichier du numéro a changé depuis sa programmation" in body
        assert f"bulletin approve {issue.resolve()}" in body and f"bulletin cancel {send_id}" in body
        assert len(server.handler.received) == 1, "nobody else got anything"

        assert main(["--config", str(cfg.path), "status"]) == 0
        out = capsys.readouterr().out
        assert f"send {send_id}: 2023-07 to news [scheduled]" in out
        assert "  waiting since " in out and "a file of the issue changed after it was scheduled" in out
        assert main(["--config", str(cfg.path), "status", str(send_id), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["state"], report["waiting"]) == ("scheduled", "changed")

        assert sends.start_due(store, cfg, at + dt.timedelta(minutes=2)).waiting == ((send_id, WaitReason.CHANGED),)
        assert len(_to(server, TEAM)) == 1, "the alert went once"

        assert main(["--config", str(cfg.path), "approve", str(issue)]) == 0
        assert f"send {send_id} was waiting for this issue" in capsys.readouterr().out
        assert sends.start_due(store, cfg, at + dt.timedelta(minutes=3)) == sends.DueSends((send_id,))
        sends.deliver(store, cfg, send_id)
        received = [r for r in server.handler.received if r.rcpt in ids]
        assert sorted(r.rcpt for r in received) == sorted(ids)
        french = [r.message for r in received if "juillet 2023" in str(r.message["Subject"])]
        assert french and all(ADDED in m.get_body(("plain",)).get_content() for m in french), \
            "rendered from the folder as approved when it fired"
        with session_scope(engine_for(cfg.database_url)) as s:
            send = s.get(Send, send_id)
            assert (send.state, send.waiting, send.fingerprint) == ("done", None, fingerprint(issue, cfg).digest)


def test_a_scheduled_send_is_rendered_when_it_fires(sqlite_url, make_config, tmp_path, capsys):
    """Nothing in the folder changed, the footer's address did: the send shows what is true when it goes."""
    ids = populate(sqlite_url, 2)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = _config(make_config, server, sqlite_url)
        send_id, at = _schedule(cfg, issue, capsys)
        cfg = _config(make_config, server, sqlite_url, '\n[organisation]\naddress = "Hamdallaye ACI 2000, Bamako"\n')
        store = Store.open(cfg)
        assert sends.start_due(store, cfg, at) == sends.DueSends((send_id,))
        sends.deliver(store, cfg, send_id)
        assert sorted(r.rcpt for r in server.handler.received) == sorted(ids)
        for r in server.handler.received:
            assert "Hamdallaye ACI 2000" in r.message.get_body(("plain",)).get_content()


@pytest.mark.parametrize("language, subject, reason", [
    ("fr", "En attente\u00a0: l'envoi 1 du numéro 2023-07", "il n'y a pas de dossier"),
    ("en", "Waiting: send 1 of the 2023-07 issue", "there is no issue folder"),
])
def test_a_folder_moved_away_waits_and_goes_when_it_is_back(sqlite_url, make_config, tmp_path, capsys, language,
                                                           subject, reason):
    ids = populate(sqlite_url, 2)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = _config(make_config, server, sqlite_url, f'\n[organisation]\nlanguage = "{language}"\n')
        store = Store.open(cfg)
        send_id, at = _schedule(cfg, issue, capsys)
        shutil.move(str(issue), str(tmp_path / "moved"))
        assert sends.start_due(store, cfg, at).waiting == ((send_id, WaitReason.MISSING),)
        [alert] = _to(server, TEAM)
        assert str(alert["Subject"]) == subject
        assert reason in alert.get_body(("plain",)).get_content()
        shutil.move(str(tmp_path / "moved"), str(issue))
        assert sends.start_due(store, cfg, at).started == (send_id,)
        sends.deliver(store, cfg, send_id)
        assert sorted(r.rcpt for r in server.handler.received if r.rcpt != TEAM) == sorted(ids)


def test_a_waiting_send_can_be_cancelled(sqlite_url, make_config, tmp_path, capsys):
    populate(sqlite_url, 2)
    issue = copy_issue(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = _config(make_config, server, sqlite_url)
        store = Store.open(cfg)
        send_id, at = _schedule(cfg, issue, capsys)
        (issue / "issue.toml").write_text((issue / "issue.toml").read_text(encoding="utf-8").replace(
            "juillet 2023", "juillet 2023 (corrigé)"), encoding="utf-8")
        assert sends.start_due(store, cfg, at).waiting == ((send_id, WaitReason.CHANGED),)
        assert main(["--config", str(cfg.path), "cancel", str(send_id)]) == 0
        out = capsys.readouterr().out
        assert f"send {send_id} cancelled (it was scheduled)" in out and "waiting" not in out
        assert main(["--config", str(cfg.path), "approve", str(issue)]) == 0
        assert "was waiting" not in capsys.readouterr().out
        assert sends.start_due(store, cfg, at + dt.timedelta(hours=1)) == sends.DueSends()
        assert [r.rcpt for r in server.handler.received] == [TEAM], "only the alert: the send never went"


def test_the_dashboard_says_whether_this_month_s_issue_is_approved(sqlite_url, make_config, tmp_path):
    from bulletin.services import issues

    cfg = make_config("", db_url=sqlite_url)
    folder = tmp_path / "issues" / "2027-01"
    shutil.copytree(copy_issue(tmp_path / "sample"), folder)
    store = Store.open(cfg)

    def approved():
        with store.unit_of_work() as uow:
            return issues.month_issue(uow, cfg, dt.date(2027, 1, 10)).approved

    assert approved() is False
    issues.approve(store, cfg, folder, by="awa@imrap-mali.org", source="web")
    assert approved() is True
    (folder / "highlights.md").write_text("---\ntitle: Ce mois-ci\n---\n- Une seule chose.\n", encoding="utf-8")
    assert approved() is False, "changed since it was approved"
