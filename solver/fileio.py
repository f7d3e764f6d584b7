"""Files in and out: inputs read only when they are regular files under a size cap, outputs written whole or not at all.

Every file the engine and the command line read goes through `read_input` (or `check_input` where another
module does the reading), and every file they write through `write_atomic`:

- an input must be a regular file (symlinks followed): a directory, FIFO, socket or device is refused
  without being read, because reading a FIFO waits for a writer that may never come and `/dev/zero` never
  ends; a file above its kind's cap (`TABLE_LIMIT_BYTES`, `TOML_LIMIT_BYTES`) is refused with the cap in
  the message. Each refusal is a `CohortInvalid` with one located problem, so callers list it with the rest.
- TOML (rules.toml, what-if scenarios, changes.toml) is read by `read_toml`: a UTF-8 BOM is accepted as
  in CSV and JSON; nesting deeper than `TOML_MAX_DEPTH` is refused before parsing (the parser recurses),
  and an integer outside TOML's 64 bits is a problem at its field path, not an overflow later.
- an output is written to a temporary file in the target's folder, flushed to disk, renamed over the
  target and the folder flushed: a crash, a kill or a full disk leaves the old file or the new one, never
  a part. It is refused when it names one of the files read under `record_inputs()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import secrets
import stat
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver.errors import CohortInvalid, Problem, ProblemCode

MiB = 1024 * 1024
TABLE_LIMIT_BYTES = 256 * MiB
"""The largest CSV, Parquet or JSON cohort file read: far above 20,000 participants (about 3 MB of CSV)."""
TOML_LIMIT_BYTES = 1 * MiB
"""The largest rules.toml, what-if scenario file or changes.toml read; real ones are a few KB."""
TOML_MAX_DEPTH = 16
"""Arrays and inline tables nested deeper than this are refused (real files nest at most 3 deep)."""
TOML_INT_RANGE = (-(2**63), 2**63 - 1)  # TOML's integers are 64-bit; the parser would give any size


@dataclass
class InputFiles:
    """The files a command has read, by device and inode: an output must replace none of them."""

    files: dict[tuple[int, int], Path] = field(default_factory=dict)

    def add(self, path: Path, status: os.stat_result) -> None:
        self.files[(status.st_dev, status.st_ino)] = path

    def clash(self, target: Path) -> Path | None:
        """The input that writing `target` would replace (the same file, through any name or link), or None."""
        try:
            status = target.stat()
        except OSError:  # no such file yet (or unreachable): nothing read can be replaced through it
            return None
        return self.files.get((status.st_dev, status.st_ino))


# The reading code is deep in the loaders (cohort files, scenario files, added-people files); a context
# variable lets the command that wants to know what it read ask, without a parameter through every layer.
_RECORDERS: contextvars.ContextVar[tuple[InputFiles, ...]] = contextvars.ContextVar("mentormatch_inputs",
                                                                                    default=())


@contextlib.contextmanager
def record_inputs() -> Iterator[InputFiles]:
    """Every file read or checked inside the block is added to the `InputFiles` it yields."""
    inputs = InputFiles()
    token = _RECORDERS.set((*_RECORDERS.get(), inputs))
    try:
        yield inputs
    finally:
        _RECORDERS.reset(token)


# How a file was read when that is worth saying ("mentors.csv: read as cp1252, ';'-separated"): the command line
# prints each note on stderr at once; a library caller who does not listen loses nothing.
_LISTENERS: contextvars.ContextVar[tuple[Callable[[str], None], ...]] = contextvars.ContextVar(
    "mentormatch_reading_notes", default=())


@contextlib.contextmanager
def reading_notes(listener: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, `listener` gets every note the readers make (one line of text each)."""
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def reading_note(text: str) -> None:
    """Tell the listeners (if any) how a file was read."""
    for listener in _LISTENERS.get():
        listener(text)


def _refused(code: ProblemCode, field_path: str, message: str, location: str) -> CohortInvalid:
    return CohortInvalid([Problem(code, field_path, message, location)])


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words ("" for a regular file)."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "" if stat.S_ISREG(mode) else "not a regular file")


def _size_text(size: int) -> str:
    return f"{size / MiB:,.0f} MiB" if size >= MiB else f"{size:,} bytes"


def _checked(status: os.stat_result, path: Path, limit: int, field_path: str, location: str) -> None:
    kind = _kind(status.st_mode)
    if kind:
        raise _refused(ProblemCode.NOT_A_FILE, field_path, f"{path} is {kind}, not a regular file", location)
    if status.st_size > limit:
        raise _refused(ProblemCode.FILE_TOO_LARGE, field_path,
                       f"{path} is {_size_text(status.st_size)}; files of this kind are read up to "
                       f"{_size_text(limit)}", location)


def _status(path: Path, field_path: str, location: str) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise _refused(ProblemCode.MISSING_FILE, field_path, f"{path} does not exist", location) from None
    except OSError as error:
        raise _refused(ProblemCode.NOT_CSV, field_path, f"cannot read {path}: {error.strerror or error}",
                       location) from None


def _record(path: Path, status: os.stat_result) -> None:
    for inputs in _RECORDERS.get():
        inputs.add(path, status)


def check_input(path: Path, *, limit: int, field_path: str, location: str = "") -> None:
    """Refuse (CohortInvalid) what `read_input` would refuse, for a file another module reads itself."""
    where = location or path.name
    status = _status(path, field_path, where)
    _checked(status, path, limit, field_path, where)
    _record(path, status)


def read_input(path: Path, *, limit: int, field_path: str, location: str = "") -> bytes:
    """The bytes of the regular file at `path` (at most `limit`); otherwise CohortInvalid with one problem.

    `field_path` and `location` place the problem ("mentors", "mentors.csv"). The file is checked before
    it is opened (a FIFO or a device is never opened) and again once open, in case it was swapped.
    """
    where = location or path.name
    _checked(_status(path, field_path, where), path, limit, field_path, where)
    try:
        # O_NONBLOCK: if a FIFO was swapped in after the check, opening it must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise _refused(ProblemCode.NOT_CSV, field_path, f"cannot read {path}: {error.strerror or error}",
                       where) from None
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(file.fileno())
        _checked(status, path, limit, field_path, where)
        os.set_blocking(file.fileno(), True)
        try:
            data = file.read(limit + 1)
        except OSError as error:
            raise _refused(ProblemCode.NOT_CSV, field_path, f"cannot read {path}: {error.strerror or error}",
                           where) from None
    if len(data) > limit:  # it grew while being read
        raise _refused(ProblemCode.FILE_TOO_LARGE, field_path,
                       f"{path} is larger than {_size_text(limit)}, the most read for files of this kind", where)
    _record(path, status)
    return data


# TOML -------------------------------------------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key


# What the nesting scan stops at: string openers (triple first), comments, brackets, '=' and line ends.
_TOML_SPECIAL = re.compile(r"\"\"\"|'''|[\"'#\[\]{}=\n]")


def _too_deep(text: str) -> tuple[int, str] | None:
    """(line, key path) of the first array or inline table nested deeper than TOML_MAX_DEPTH, or None.

    A scan over brackets outside strings and comments: tomllib parses nesting by recursion, so a deep
    enough file raises RecursionError from inside the parser; this finds it first, with a place to name.
    """
    depth, line, table, key, statement = 0, 1, "", "", 0
    position = 0
    while (match := _TOML_SPECIAL.search(text, position)) is not None:
        token, position = match.group(), match.end()
        if token == "\n":
            line += 1
            statement = position if depth == 0 else statement
        elif token == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
        elif token in ('"""', "'''"):
            end = text.find(token, position)
            end = len(text) if end < 0 else end + 3
            line += text.count("\n", position, end)
            position = end
        elif token in "\"'":
            pattern = r'(?:[^"\\\n]|\\.)*"' if token == '"' else r"[^'\n]*'"
            closing = re.compile(pattern).match(text, position)
            position = closing.end() if closing else position
        elif token == "=":
            if depth == 0:
                key = _join(table, text[statement:match.start()].strip().replace('"', "").replace("'", ""))
        elif token in "[{":
            if depth == 0 and token == "[" and not text[statement:match.start()].strip():
                end = text.find("\n", position)
                table = text[match.start():len(text) if end < 0 else end].split("#")[0].strip("[] \t\r")
                key, position = table, len(text) if end < 0 else end
                continue
            depth += 1
            if depth > TOML_MAX_DEPTH:
                return line, key
        else:  # "]" or "}"
            depth = max(0, depth - 1)
    return None


def _out_of_range(data: dict[str, Any], prefix: str) -> list[tuple[str, int]]:
    """(field path, digits) of every integer outside TOML's 64 bits, in the file's order, walked without recursion;
    each is clamped in place to the nearest 64-bit value, so checks that read the table after go on with the rest."""
    found = []
    stack: list[tuple[str, Any, Any, Any]] = [(prefix, data, None, None)]  # path, value, its container, its key
    low, high = TOML_INT_RANGE
    while stack:
        path, value, container, key = stack.pop()
        if isinstance(value, dict):
            stack += [(_join(path, str(k)), v, value, k) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(f"{path}[{k}]", v, value, k) for k, v in reversed(list(enumerate(value)))]
        elif isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            found.append((path, len(str(abs(value)))))
            container[key] = min(max(value, low), high)
    return found


def read_toml(path: Path, *, field_path: str = "", location: str = "") -> dict[str, Any]:
    """A TOML file's table, or CohortInvalid listing every problem: unreadable, not UTF-8, bad syntax,
    nested too deep, integers out of range. `field_path` prefixes the key paths ("rules" for rules.toml);
    `location` is the file's name in messages (default: the file name)."""
    data, problems = read_toml_checked(path, field_path=field_path, location=location)
    if problems:
        raise CohortInvalid(problems)
    return data


def read_toml_checked(path: Path, *, field_path: str = "", location: str = "") -> tuple[dict[str, Any], list[Problem]]:
    """`read_toml`, but an integer outside TOML's 64 bits is a problem beside the table (its value clamped), so the
    caller checks the rest of the file too and reports everything at once; CohortInvalid for a file that cannot be
    read as TOML at all."""
    where = location or path.name
    raw = read_input(path, limit=TOML_LIMIT_BYTES, field_path=field_path, location=where)
    try:
        text = raw.decode("utf-8-sig")  # a BOM is accepted, as for CSV and JSON
    except UnicodeDecodeError as error:
        raise _refused(ProblemCode.NOT_CSV, field_path, f"{where} is not UTF-8 text (byte {error.start})",
                       where) from None
    deep = _too_deep(text)
    if deep is not None:
        line, key = deep
        raise _refused(ProblemCode.NOT_CSV, _join(field_path, key),
                       f"arrays or inline tables nested deeper than {TOML_MAX_DEPTH} levels",
                       f"{where} {key} (line {line})" if key else f"{where} line {line}")
    try:
        data = tomllib.loads(text)
    except RecursionError:  # the scan above should make this unreachable; never a traceback if it is not
        raise _refused(ProblemCode.NOT_CSV, field_path, f"{where} is nested too deeply to read", where) from None
    except ValueError as error:  # TOMLDecodeError, or an integer with more digits than Python converts
        message = str(error).splitlines()[0][:200]
        if "integer string conversion" in message:
            message = "an integer has thousands of digits; TOML integers are 64-bit"
        raise _refused(ProblemCode.NOT_CSV, field_path, f"cannot read {where} as TOML: {message}", where) from None
    problems = [Problem(ProblemCode.BAD_VALUE, key, f"a {digits}-digit integer is out of range: TOML integers are "
                        "64-bit (-2^63 to 2^63-1)", f"{where} {key.removeprefix(field_path).lstrip('.')}".strip())
                for key, digits in _out_of_range(data, field_path)]
    return data, problems


# Writing ----------------------------------------------------------------------------------------------


def output_problems(target: Path, inputs: InputFiles | None, field_path: str) -> list[Problem]:
    """Why `target` may not be written: it is a directory or the like, or it is one of the inputs."""
    problems = []
    clash = inputs.clash(target) if inputs is not None else None
    if clash is not None:
        same = "" if os.path.abspath(target) == os.path.abspath(clash) else f" ({clash}, through another name)"
        problems.append(Problem(ProblemCode.OVERWRITES_INPUT, field_path,
                                f"{target} is one of this command's input files{same}: choose another path; inputs "
                                "are never written over", field_path))
    with contextlib.suppress(OSError):
        kind = _kind(target.stat().st_mode)
        if kind:
            problems.append(Problem(ProblemCode.NOT_A_FILE, field_path, f"{target} is {kind}, not a file to write",
                                    field_path))
    for folder in target.parents:  # missing folders are made when written; the nearest one there must be one
        if folder.exists():
            if not folder.is_dir():
                problems.append(Problem(ProblemCode.NOT_A_FILE, field_path, f"{target} cannot be written: {folder} "
                                        "is a file, not a folder", field_path))
            break
    return problems


def same_file_problems(outputs: Iterable[tuple[str, Path | None]]) -> list[Problem]:
    """Two of a command's outputs that are one file, one would write over the other: refused, each clash once,
    at the later option (`outputs`: each file the command would write, with its option; a table of several sheets
    gives each sheet's file). One file by its real path, or by its inode where it exists (a hard link)."""
    first: dict[tuple[object, ...], tuple[str, Path]] = {}
    problems = []
    for flag, path in outputs:
        if path is None:
            continue
        try:
            status = path.stat()
            key: tuple[object, ...] = ("inode", status.st_dev, status.st_ino)
        except OSError:  # not there yet (or not reachable: its own problem says so)
            key = ("path", os.path.realpath(path))
        if key not in first:
            first[key] = (flag, path)
            continue
        other_flag, other = first[key]
        what = (f"{path} is also written by {other_flag}" if os.path.abspath(path) == os.path.abspath(other)
                else f"{path} is the file {other}, which {other_flag} writes")
        problems.append(Problem(ProblemCode.BAD_VALUE, flag, f"{what}: one would write over the other; choose "
                                "another path", flag))
    return problems


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; some systems cannot open a directory, which then stays as it is."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # e.g. a file system that does not sync directories: the rename has still happened
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes | str, *, inputs: InputFiles | None = None,
                 field_path: str = "output") -> Path:
    """Write `data` (text as UTF-8) to `path` whole or not at all: a temporary file in the same folder,
    fsync, rename over `path`, fsync of the folder. On any failure the temporary file is removed, the old
    file is untouched and the OSError propagates. Refused (CohortInvalid, OVERWRITES_INPUT or NOT_A_FILE)
    when `path` is one of `inputs` or not a file. Missing parent folders are made."""
    path = Path(path)
    problems = output_problems(path, inputs, field_path)
    if problems:
        raise CohortInvalid(problems)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)  # a rewritten file keeps its permissions
    except OSError:
        mode = None
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:  # 0o666 and O_EXCL: the umask decides the mode, as for any new file, and nothing is clobbered
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
            if mode is not None:
                os.fchmod(file.fileno(), mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_directory(path.parent)
    return path
