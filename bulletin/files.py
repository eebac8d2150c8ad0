"""Files Bulletin writes hold personal data: they are readable by their owner only, and appear whole or not at all.

Every command runs under a umask made from `[files].mode` (0600 by default, folders 0700), so that the database and
its WAL and SHM files, the maildir outbox, exports and secrets are created private however a library creates them,
as mail servers do. `atomic_write` gives a file its name only once it is complete: a reader never sees half an
export, and a process killed while writing leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: What Bulletin's files are created with unless `[files].mode` says otherwise.
DEFAULT_MODE = 0o600
_PROC_FD = Path("/proc/self/fd")


def folder_mode(file_mode: int) -> int:
    """The mode of folders that go with files of `file_mode`: whoever may read the files may enter the folder."""
    return file_mode | ((file_mode & 0o444) >> 2)


def umask_for(file_mode: int) -> int:
    """The umask that creates files with `file_mode` and folders with `folder_mode(file_mode)`."""
    return 0o777 & ~folder_mode(file_mode)


@contextmanager
def created_with(file_mode: int) -> Iterator[None]:
    """Files and folders created in the block get `file_mode` (and its folder mode); the umask is restored after."""
    previous = os.umask(umask_for(file_mode))
    try:
        yield
    finally:
        os.umask(previous)


def readable_by_others(path: str | Path) -> bool:
    """Whether every user of the machine may read the file."""
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unnamed_file(folder: Path) -> int | None:
    """An unnamed file in `folder` (Linux O_TMPFILE): if the process dies, the kernel frees it, no name left over.
    None where the system or file system cannot make one."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not _PROC_FD.is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Write `path` through the file yielded: it takes the name only when the block ends without an error (an
    existing file is replaced in one step); on an error, or if the process is killed, the old file is untouched
    and no partial file remains. Created with the process's umask (see `created_with`)."""
    path = Path(path)
    folder = path.parent
    fd = _unnamed_file(folder)
    named: Path | None = None
    if fd is None:
        # Without O_TMPFILE a temporary name is unavoidable; it is removed on every error but a kill.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
        named = Path(tmp)
    f = os.fdopen(fd, "wb")
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        if named is None:
            # Linked under a temporary name, then renamed over the target: link cannot replace a file. Given a
            # folder descriptor, os.link calls linkat(), which can follow the /proc link to the unnamed file.
            tmp_name = f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part"
            folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.link(_PROC_FD / str(f.fileno()), tmp_name, dst_dir_fd=folder_fd, follow_symlinks=True)
            finally:
                os.close(folder_fd)
            named = folder / tmp_name
        os.replace(named, path)
        named = None
        _fsync_folder(folder)
    finally:
        f.close()
        if named is not None:
            named.unlink(missing_ok=True)
