"""The issue editor of the workspace: an issue folder opened as a form (content/form.py), saved back into its
own files (content/writer.py), its news blocks added, moved and removed, its photos uploaded; every change in
the audit log with its diff. The folder stays the source of truth: what is saved here, `bulletin build` reads.

A page carries the version of each file it shows. The versions pages were opened with are remembered here
(their bytes, in memory, `VERSIONS`), so a save knows which fields the author changed: a field she did not
touch never overwrites an edit made on disk meanwhile, and a file both sides changed comes back as a conflict
to choose on. After a restart the old versions are forgotten and any difference with the disk is a conflict:
safe, if more talkative.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bulletin import i18n
from bulletin.content import ImageRole, Problem, read_issue
from bulletin.content.form import (BODY, FACTS, IMAGE_KEYS, SOURCE, TEXT_KEYS, Conflict, IssueForm,
                                   Submission, block_files, field_name, moved, new_block_name, overlay, plan,
                                   read_form, renames, version_of)
from bulletin.content.loader import IMAGES_DIR, NEWS_DIR
from bulletin.content.starter import create_issue
from bulletin.content.uploads import UploadRefused, prepare
from bulletin.errors import BulletinError, ContentError
from bulletin.render.build import local_copy
from bulletin.render.check import CheckReport, EditionWeight, check_issue
from bulletin.render.images import ROLE_WIDTHS, publish_image, width_for
from bulletin.render.pipeline import TEMPLATES_DIR, render_edition
from bulletin.services import issues
from bulletin.services.audit import Action, Actor, record
from bulletin.services.errors import InputRefused
from bulletin.services.store import Store

#: The audit entry of a save keeps at most this much of its diff.
DIFF_LIMIT = 20_000
STARTER = TEMPLATES_DIR / "starter"


class Versions:
    """The bytes of the file versions pages were opened with, by version (bounded; the oldest go first)."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, data: bytes) -> str:
        version = version_of(data)
        with self._lock:
            self._data[version] = data
            self._data.move_to_end(version)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return version

    def get(self, version: str) -> bytes | None:
        with self._lock:
            return self._data.get(version)


VERSIONS = Versions()
_folder_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def _lock(folder: Path) -> threading.Lock:
    """One save at a time per folder in this process (two tabs saving at once)."""
    with _locks_lock:
        return _folder_locks.setdefault(str(folder.resolve()), threading.Lock())


# -- reading ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageFile:
    """A file of images/, what it weighs, and where the issue shows it."""

    name: str
    bytes: int
    #: what a reader downloads (scaled for where it is shown), None when the issue does not show it
    served: int | None
    #: the files that show it
    used_by: tuple[str, ...]
    #: why it cannot be sent to readers (not an image, too large), if so
    problem: i18n.Message | None = None


@dataclass
class EditorView:
    form: IssueForm
    report: CheckReport
    #: (file, field) -> its problems, shown next to the field
    placed: dict[tuple[str, str], list[Problem]]
    #: file -> its problems that concern no field of the form, shown at the top of the file's part
    by_file: dict[str, list[Problem]]
    #: problems of no file of the form (the folder, a template): shown at the top of the page
    loose: list[Problem]
    images: list[ImageFile]
    limit_kb: int
    #: (file, field) of translations that lack a text their original has
    untranslated: set[tuple[str, str]]

    @property
    def buildable(self) -> bool:
        return not any(p.blocking for p in self.report.problems)

    @property
    def weights(self) -> tuple[EditionWeight, ...]:
        return self.report.weights


def form_of(cfg, folder: Path) -> IssueForm:
    org = cfg.organisation
    return read_form(folder, org.language, org.languages)


def open_issue(cfg, slug: str, submission: Submission | None = None) -> EditorView:
    """The issue `slug` as the editor shows it: its fields, every problem `check` finds placed next to the field
    it concerns, the weight of each edition and of each image. With `submission` (a form refused), the fields
    show what was sent."""
    folder = issues.issue_dir(cfg, slug)
    form = form_of(cfg, folder)
    for ff in form.files():
        if ff.data is not None:
            VERSIONS.remember(ff.data)
    if submission is not None:
        overlay(form, submission)
    report = check_issue(folder, cfg)
    placed, by_file, loose = _place(form, report.problems)
    return EditorView(form, report, placed, by_file, loose, _images(cfg, folder), cfg.compose.max_edition_kb,
                      _untranslated(form))


def _place(form: IssueForm, problems: Iterable[Problem]):
    placed: dict[tuple[str, str], list[Problem]] = {}
    by_file: dict[str, list[Problem]] = {}
    loose: list[Problem] = []
    files = {f.rel: f for f in form.files()}
    for p in problems:
        ff = files.get(p.file)
        if ff is None:
            loose.append(p)
        elif not ff.raw and p.field and p.field in ff.keys:
            placed.setdefault((p.file, p.field), []).append(p)
        elif not ff.raw and p.field and (p.field.split(".")[0] == FACTS) and FACTS in ff.keys:
            placed.setdefault((p.file, FACTS), []).append(p)
        else:
            by_file.setdefault(p.file, []).append(p)
    return placed, by_file, loose


def _untranslated(form: IssueForm) -> set[tuple[str, str]]:
    out = set()
    for lang in form.editions[1:]:
        for key in ("subject", "preheader"):
            if form.toml.values.get(key) and not form.toml.values.get(f"{lang}.{key}"):
                out.add((form.toml.rel, f"{lang}.{key}"))
    groups = [form.director, form.highlights, *(b.files for b in form.news)]
    for files in groups:
        original = files[form.primary]
        if not original.exists or original.raw:
            continue
        for lang in form.editions[1:]:
            tr = files.get(lang)
            if tr is None or tr.raw:
                continue
            # an image or a link left out shows the original's: nothing to translate
            shared = (IMAGE_KEYS.get(original.kind, ("",))[0], "link")
            for key in TEXT_KEYS[original.kind]:
                if key not in shared and original.values.get(key) and not tr.values.get(key):
                    out.add((tr.rel, key))
            if original.facts and not tr.facts:
                out.add((tr.rel, FACTS))
            if original.body.strip() and not tr.body.strip():
                out.add((tr.rel, BODY))
    return out


def _images(cfg, folder: Path) -> list[ImageFile]:
    reading = read_issue(folder, cfg)
    record_ = reading.issue.images if reading.issue is not None else ()
    used: dict[str, list[str]] = {}
    roles: dict[str, list[ImageRole]] = {}
    for ref in record_:
        if ref.file is not None and ref.where is not None:
            rel = Path(ref.where).resolve().relative_to(folder.resolve()).as_posix()
            used.setdefault(ref.file.name, [])
            if rel not in used[ref.file.name]:
                used[ref.file.name].append(rel)
            roles.setdefault(ref.file.name, []).append(ref.role)
    out = []
    images = folder / IMAGES_DIR
    for path in sorted(images.iterdir() if images.is_dir() else ()):
        if not path.is_file() or path.name.startswith("."):
            continue
        served, problem = None, None
        if path.name in used:
            try:
                served = len(publish_image(folder, path.name, width=width_for(tuple(roles[path.name])))[0])
            except BulletinError as e:
                problem = e.what if isinstance(e.what, i18n.Message) else i18n.Message("editor.image.unusable",
                                                                                         reason=str(e.what))
        out.append(ImageFile(path.name, path.stat().st_size, served, tuple(used.get(path.name, ())), problem))
    return out


# -- the issues of the workspace ---------------------------------------------------------------------------------

def suggested_slug(cfg, today: dt.date) -> str:
    """This month's `YYYY-MM` when it has no folder yet, else the next month's."""
    slug = f"{today:%Y-%m}"
    if (issues.issues_root(cfg) / slug).exists():
        nxt = (today.replace(day=1) + dt.timedelta(days=32))
        slug = f"{nxt:%Y-%m}"
    return slug


def new_issue(store: Store, cfg, slug: str, *, actor: Actor, now: dt.datetime, today: dt.date) -> str:
    """`bulletin new SLUG` in [web].issues_dir: the starter, French with its English edition."""
    slug = (slug or "").strip()
    if not issues.SLUG.match(slug):
        raise InputRefused(i18n.Message("editor.new.slug", slug=slug), field="slug")
    if (issues.issues_root(cfg) / slug).exists():
        raise InputRefused(i18n.Message("editor.new.exists", slug=slug), field="slug")
    with store.unit_of_work() as uow:
        try:
            folder, files = create_issue(issues.issues_root(cfg), slug, cfg, STARTER, today=today)
        except ContentError as e:
            raise InputRefused(i18n.Message("editor.new.refused", reason=str(e.what)), field="slug") from None
        record(uow, actor, Action.ISSUE_CREATE, object_type="issue", object_id=slug,
               detail="\n".join(p.relative_to(folder).as_posix() for p in files), now=now)
    return slug


# -- saving ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Upload:
    """A file sent with the form for an image field (`news/01-bamako.md|image`)."""

    field: str
    filename: str
    data: bytes


@dataclass
class Saved:
    written: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    #: images stored: (name, width, height, bytes)
    images: list[tuple[str, int, int, int]] = field(default_factory=list)
    #: field -> why what was typed or sent there was refused; nothing was written
    refused: dict[str, i18n.Message] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.images)


def save(store: Store, cfg, slug: str, submission: Submission, uploads: Sequence[Upload] = (), *, actor: Actor,
         now: dt.datetime) -> Saved:
    """Write what the form changed. Uploads and values are checked first: anything refused writes nothing.
    Files that changed on disk since the page was opened and that the form changed too are not written: they
    come back in `conflicts`, with both versions."""
    folder = issues.issue_dir(cfg, slug)
    with _lock(folder):
        form = form_of(cfg, folder)
        out = Saved()
        overrides: dict[str, dict[str, str]] = {}
        images: list[tuple[str, bytes]] = []
        for up in uploads:
            rel, _, key = up.field.partition("|")
            ff = form.file(rel)
            if ff is None or ff.kind not in IMAGE_KEYS or key != IMAGE_KEYS[ff.kind][0] or ff.raw:
                out.refused[up.field] = i18n.Message("editor.upload.where")
                continue
            role = ImageRole.DIRECTOR_PHOTO if ff.kind == "director" else ImageRole.BLOCK_IMAGE
            try:
                ready = prepare(up.data, up.filename, 2 * ROLE_WIDTHS[role])
            except UploadRefused as e:
                out.refused[up.field] = e.what if isinstance(e.what, i18n.Message) else i18n.Message(
                    "editor.upload.refused", reason=str(e.what))
                continue
            name = _free_name(folder / IMAGES_DIR, ready.name, ready.data, [n for n, _ in images])
            images.append((name, ready.data))
            overrides.setdefault(rel, {})[key] = f"{IMAGES_DIR}/{name}"
            out.images.append((name, ready.width, ready.height, len(ready.data)))
        for ff in form.files():
            if ff.kind in IMAGE_KEYS and submission.get(field_name(ff.rel, IMAGE_KEYS[ff.kind][0] + ".remove")):
                overrides.setdefault(ff.rel, {}).setdefault(IMAGE_KEYS[ff.kind][0], "")
        out.refused.update(_refusals(form, submission))
        if out.refused:
            out.images.clear()
            return out
        todo = plan(form, submission, VERSIONS.get, overrides)
        with store.unit_of_work() as uow:
            for name, data in images:
                _write(folder / IMAGES_DIR / name, data, create_dirs=True)
            for w in todo.writes:
                current = _bytes(folder / w.rel)
                if version_of(current) != w.version:  # changed in the instant since it was read
                    todo.conflicts.append(Conflict(w.rel, current.decode("utf-8", "replace") if current else None,
                                                   version_of(current), w.text))
                    continue
                _write(folder / w.rel, w.text.encode("utf-8"), create_dirs=True)
                VERSIONS.remember(w.text.encode("utf-8"))
                out.written.append(w.rel)
            out.conflicts = todo.conflicts
            if out.written or images:
                diff = _diff([(w.rel, w.before, w.text) for w in todo.writes if w.rel in out.written])
                pictures = "".join(f"+ {IMAGES_DIR}/{n} ({wd}×{h}, {size} B)\n" for n, wd, h, size in out.images)
                record(uow, actor, Action.ISSUE_SAVE, object_type="issue", object_id=slug,
                       detail=_cut(pictures + diff), now=now)
        return out


def _refusals(form: IssueForm, submission: Submission) -> dict[str, i18n.Message]:
    """What the form cannot write as typed: a date that is not one, two facts with the same label."""
    out: dict[str, i18n.Message] = {}
    date_field = field_name(form.toml.rel, "date")
    typed = (submission.get(date_field) or [""])[-1].strip()
    if typed and not form.toml.raw:
        try:
            dt.date.fromisoformat(typed)
        except ValueError:
            out[date_field] = i18n.Message("editor.date.invalid", value=typed)
    for ff in form.files():
        if ff.kind != "news" or ff.raw:
            continue
        labels = [x.strip() for x in submission.get(field_name(ff.rel, "facts.label"), ()) if x.strip()]
        seen = set()
        for label in labels:
            if label.casefold() in seen:
                out[field_name(ff.rel, FACTS)] = i18n.Message("editor.facts.duplicate", label=label)
            seen.add(label.casefold())
        values = list(submission.get(field_name(ff.rel, "facts.value"), ()))
        for i, label in enumerate(submission.get(field_name(ff.rel, "facts.label"), ())):
            if not label.strip() and i < len(values) and values[i].strip():
                out[field_name(ff.rel, FACTS)] = i18n.Message("editor.facts.no_label", value=values[i].strip())
    return out


def resolve(store: Store, cfg, slug: str, rel: str, text: str, version: str, *, actor: Actor,
            now: dt.datetime) -> Conflict | None:
    """Write `text` to `rel` if the file still has `version` (the author chose her version, or edited it);
    else the conflict again, with the file as it is now."""
    folder = issues.issue_dir(cfg, slug)
    with _lock(folder):
        form = form_of(cfg, folder)
        ff = form.file(rel)
        if ff is None:
            raise InputRefused(i18n.Message("editor.no_such_file", file=rel), field="file")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if text and not text.endswith("\n"):
            text += "\n"
        current = _bytes(folder / rel)
        if version_of(current) != version:
            return Conflict(rel, current.decode("utf-8", "replace") if current else None, version_of(current), text)
        if current is not None and current.decode("utf-8", "replace") == text:
            return None
        with store.unit_of_work() as uow:
            _write(folder / rel, text.encode("utf-8"), create_dirs=True)
            VERSIONS.remember(text.encode("utf-8"))
            record(uow, actor, Action.ISSUE_SAVE, object_type="issue", object_id=slug,
                   detail=_cut(_diff([(rel, current.decode("utf-8", "replace") if current else None, text)])), now=now)
    return None


# -- the blocks ----------------------------------------------------------------------------------------------------

def add_block(store: Store, cfg, slug: str, title: str, *, actor: Actor, now: dt.datetime) -> str:
    """A news block at the end, `news/NN-name.md` with its title; returns its stem."""
    title = " ".join((title or "").split())
    if not title:
        raise InputRefused(i18n.Message("editor.block.title_missing"), field="new_title")
    folder = issues.issue_dir(cfg, slug)
    with _lock(folder):
        form = form_of(cfg, folder)
        rel = new_block_name(form, title)
        from bulletin.content.writer import update_markdown

        text = update_markdown(None, "news", {"title": title})
        with store.unit_of_work() as uow:
            _write(folder / rel, text.encode("utf-8"), create_dirs=True, new=True)
            record(uow, actor, Action.ISSUE_BLOCK_ADD, object_type="issue", object_id=slug,
                   detail=_cut(_diff([(rel, None, text)])), now=now)
    return Path(rel).name.removesuffix(".md")


def move_block(store: Store, cfg, slug: str, stem: str, delta: int, *, actor: Actor, now: dt.datetime) -> str:
    """Move a block `delta` places; the numbers of every block follow. Returns its new stem."""
    folder = issues.issue_dir(cfg, slug)
    with _lock(folder):
        form = form_of(cfg, folder)
        if form.block(stem) is None:
            raise InputRefused(i18n.Message("editor.block.unknown", block=stem), field="block")
        order = moved([b.stem for b in form.news], stem, delta)
        pairs = renames(form, order)
        with store.unit_of_work() as uow:
            _rename_all(folder, pairs)
            record(uow, actor, Action.ISSUE_BLOCK_MOVE, object_type="issue", object_id=slug,
                   detail="\n".join(f"{a} -> {b}" for a, b in pairs), now=now)
        position = order.index(stem)
    return form_of(cfg, folder).news[position].stem


def remove_block(store: Store, cfg, slug: str, stem: str, *, actor: Actor, now: dt.datetime) -> list[str]:
    """Delete a block's files (its translations too); the blocks after it move up a number."""
    folder = issues.issue_dir(cfg, slug)
    with _lock(folder):
        form = form_of(cfg, folder)
        block = form.block(stem)
        if block is None:
            raise InputRefused(i18n.Message("editor.block.unknown", block=stem), field="block")
        files = block_files(form, block)
        before = {rel: (folder / rel).read_text(encoding="utf-8", errors="replace") for rel in files}
        with store.unit_of_work() as uow:
            for rel in files:
                (folder / rel).unlink()
            rest = form_of(cfg, folder)
            pairs = renames(rest, [b.stem for b in rest.news])
            _rename_all(folder, pairs)
            detail = _diff([(rel, text, None) for rel, text in before.items()])
            detail += "".join(f"{a} -> {b}\n" for a, b in pairs)
            record(uow, actor, Action.ISSUE_BLOCK_REMOVE, object_type="issue", object_id=slug, detail=_cut(detail),
                   now=now)
    return files


def block_title(cfg, slug: str, stem: str) -> str:
    form = form_of(cfg, issues.issue_dir(cfg, slug))
    block = form.block(stem)
    if block is None:
        raise InputRefused(i18n.Message("editor.block.unknown", block=stem), field="block")
    return block.files[form.primary].values.get("title") or stem


# -- preview ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preview:
    language: str
    subject: str
    html: str
    text: str


def preview(cfg, slug: str, language: str, *, images_url: str, icons_url: str) -> Preview:
    """The edition `language` as `bulletin preview` shows it: its images from `images_url`, its icons from
    `icons_url`, harmless links in place of a reader's. ContentError when the issue cannot be built."""
    from bulletin.content import load_issue

    issue = load_issue(issues.issue_dir(cfg, slug), cfg)
    if language not in issue.languages:
        raise InputRefused(i18n.Message("editor.preview.language", language=language), field="lang")
    edition = render_edition(issue, language, cfg)
    html, text = local_copy(edition, cfg, images=images_url, icons=icons_url)
    return Preview(language, edition.subject, html, text)


def preview_image(cfg, slug: str, name: str) -> tuple[bytes, str]:
    """An image of the issue as readers download it (scaled for where it is shown)."""
    return publish_image(issues.issue_dir(cfg, slug), name)


# -- files -----------------------------------------------------------------------------------------------------

def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _free_name(folder: Path, name: str, data: bytes, taken: list[str]) -> str:
    """`name` in images/, or `name-2`, `-3`... when a different file has it; the same bytes reuse it."""
    stem, _, ext = name.rpartition(".")
    candidate, n = name, 2
    while True:
        existing = _bytes(folder / candidate)
        if candidate not in taken and (existing is None or existing == data):
            return candidate
        candidate, n = f"{stem}-{n}.{ext}", n + 1


def _write(path: Path, data: bytes, *, create_dirs: bool = False, new: bool = False) -> None:
    """Through a temporary file and a rename: a reader (the worker, `bulletin build`) never sees half a file."""
    if create_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    if new and path.exists():
        raise ContentError(i18n.Message("editor.exists", file=path.name), where=path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bulletin-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rename_all(folder: Path, pairs: Sequence[tuple[str, str]]) -> None:
    """Rename every pair, through temporary names (01 -> 02 while 02 -> 01), never over a file not renamed."""
    sources = {a for a, _ in pairs}
    for _, b in pairs:
        if (folder / b).exists() and b not in sources:
            raise ContentError(i18n.Message("editor.exists", file=b), where=folder / b)
    staged = []
    for i, (a, b) in enumerate(pairs):
        tmp = folder / NEWS_DIR / f".moving-{i}-{Path(a).name}"
        os.rename(folder / a, tmp)
        staged.append((tmp, folder / b))
    for tmp, target in staged:
        os.rename(tmp, target)


def _diff(changes: Iterable[tuple[str, str | None, str | None]]) -> str:
    out = []
    for rel, before, after in changes:
        out += difflib.unified_diff((before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
                                    fromfile=f"a/{rel}" if before is not None else "/dev/null",
                                    tofile=f"b/{rel}" if after is not None else "/dev/null", n=1)
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _cut(text: str) -> str:
    return text if len(text) <= DIFF_LIMIT else text[:DIFF_LIMIT] + "\n[…]\n"


__all__ = ["open_issue", "save", "resolve", "add_block", "move_block", "remove_block", "preview", "preview_image",
           "new_issue", "suggested_slug", "EditorView", "Saved", "Upload", "Conflict", "SOURCE", "VERSIONS"]
