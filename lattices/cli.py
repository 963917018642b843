"""The error boundary and argument helpers shared by every command line of the toolkit.

Every ``python -m ...`` entry point of ``lattices``, ``theory``, ``vae``, ``validation`` and
``benchmarks`` keeps the same promise (see ``docs/reliability.md``):

========  =====================================================================
exit 0    success (for a validation report: the claim is confirmed)
exit 1    a validation report refutes the claim (never used for errors)
exit 2    a user error: bad value, unreadable or corrupt file, unwritable output
          path, a request too large for this machine.  One line on stderr,
          ``PROG: error: MESSAGE``, no traceback
exit 3    ``vae.train`` only: the training loss diverged (the last good
          checkpoint is kept)
exit 70   an internal error (a bug): the traceback, then one line asking for a report
exit 130  interrupted (Ctrl-C); whatever was finished is kept
========  =====================================================================

A command line adopts it with two changes::

    from lattices.cli import ArgumentParser, cli_main

    def build_parser():
        p = ArgumentParser(prog="python -m mypkg.tool", description=__doc__)
        p.add_argument("--out", type=output_path)          # checked before any work
        return p

    @cli_main("python -m mypkg.tool")
    def main(argv=None) -> int:
        args = build_parser().parse_args(argv)
        ...                                               # raise ValueError("--x must be ...")
        return 0

``main(argv)`` then never raises for a user error: tests call ``main([...])`` in-process and
check the returned code and the one line on stderr.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import pickle
import sys
import tempfile
import traceback
from pathlib import Path

from ._validation import check_scale_range  # the --scale rule of every command line

__all__ = ["UsageError", "check_scale_range", "ArgumentParser", "cli_main", "error_line", "check_output_path",
           "check_not_overwriting", "DefaultsHelpFormatter", "input_file", "input_dir", "check_at_most", "add_max_seconds", "check_seconds",
           "DEFAULT_MAX_SECONDS", "output_path", "output_dir", "count", "positive_count", "finite_float", "positive_float", "available_memory",
           "check_memory", "format_bytes", "format_seconds", "chunk_ranges", "PROGRESS_AFTER_S", "EXIT_OK", "EXIT_REFUTED",
           "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "USER_ERRORS"]

EXIT_OK, EXIT_REFUTED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


class UsageError(ValueError):
    """A user error that a command line reports in one line with exit code 2."""


#: Exceptions that mean "the user asked for something that cannot be done", reported in one
#: line with exit code 2.  ``OSError`` covers missing, unreadable and unwritable files and a full
#: disk; ``MemoryError`` a request too large for this machine; ``EOFError`` and
#: ``pickle.UnpicklingError`` a truncated or foreign file; ``ImportError`` an optional package
#: that is not installed (e.g. ``--tensorboard`` without ``tensorboard``: the message names the
#: extra to install).
USER_ERRORS = (ValueError, OSError, MemoryError, EOFError, pickle.UnpicklingError, ImportError)


def error_line(exc: BaseException) -> str:
    """One line describing ``exc`` for a user: the message with newlines folded.

    >>> error_line(FileNotFoundError(2, "No such file or directory", "/x/y"))
    '/x/y: No such file or directory'
    >>> error_line(ValueError("bad\\nvalue"))
    'bad value'
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, MemoryError) and not str(exc):
        text = "not enough memory for this request"
    else:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, KeyError) and len(exc.args) == 1:
            text = str(exc.args[0])
    return " ".join(text.split())


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line (exit 2), not usage + error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def cli_main(prog: str):
    """Decorate ``main(argv=None) -> int`` with the toolkit's error boundary (see the module doc).

    User errors (:data:`USER_ERRORS`) print ``PROG: error: MESSAGE`` on one line and return 2;
    ``SystemExit`` from argparse returns its code; Ctrl-C prints one line and returns 130;
    anything else is a bug: the traceback, one line, and 70.  The wrapped function returns the
    exit code instead of raising, so ``sys.exit(main())`` and in-process tests both work.
    """

    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            try:
                code = main(argv)
            except SystemExit as exc:        # argparse (--help: 0, bad usage: 2)
                if exc.code is None or isinstance(exc.code, int):
                    return int(exc.code or 0)
                print(exc.code, file=sys.stderr)
                return EXIT_USAGE
            except KeyboardInterrupt:
                print(f"{prog}: interrupted; nothing unfinished was written", file=sys.stderr)
                return EXIT_INTERRUPTED
            except USER_ERRORS as exc:
                print(f"{prog}: error: {error_line(exc)}", file=sys.stderr)
                return EXIT_USAGE
            except Exception as exc:  # noqa: BLE001 - the boundary: a bug, reported as such
                traceback.print_exc()
                print(f"{prog}: internal error ({type(exc).__name__}); this is a bug, please "
                      f"report it with the command line", file=sys.stderr)
                return EXIT_INTERNAL
            return EXIT_OK if code is None else int(code)

        wrapper.prog = prog
        return wrapper

    return decorate


def check_output_path(path, what: str = "--out", *, directory: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written; returns it as a ``Path``.

    A file path needs an existing, writable parent folder and must not be a folder; a folder
    path (``directory=True``) must be a writable folder or creatable.  The check creates and
    removes a temporary file, so it is exact where permission bits are not (root, /proc, a
    read-only mount).  Raises :class:`UsageError` naming the path.
    """
    path = Path(path)
    if directory:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{what} {str(path)!r} is a file, not a folder")
        probe_dir = path
        while not probe_dir.exists():
            probe_dir = probe_dir.parent
    else:
        if path.is_dir():
            raise UsageError(f"{what} {str(path)!r} is a folder; give a file path")
        probe_dir = path.parent if str(path.parent) else Path(".")
        if not probe_dir.is_dir():
            raise UsageError(f"{what} {str(path)!r}: the folder {str(probe_dir)!r} does not exist")
    if not probe_dir.is_dir():
        raise UsageError(f"{what} {str(path)!r}: {str(probe_dir)!r} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=probe_dir, prefix=".write-check-", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise UsageError(f"{what} {str(path)!r} cannot be written ({exc.strerror or exc})") from None
    return path


def output_path(text: str) -> Path:
    """argparse ``type`` for an output file: :func:`check_output_path` at parse time."""
    try:
        return check_output_path(text, "output path")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count(text) -> int:
    """argparse ``type``: a non-negative integer, also written ``1e6`` or ``10**6``.

    >>> count("1e6"), count("10**3"), count("12")
    (1000000, 1000, 12)
    """
    s = str(text).strip()
    try:
        if "**" in s:
            base, _, exp = s.partition("**")
            value = int(base) ** int(exp)
        else:
            try:
                value = int(s)
            except ValueError:
                f = float(s)
                if not math.isfinite(f) or f != int(f):
                    raise ValueError from None
                value = int(f)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a whole number (e.g. 1000, 1e6, 10**6), "
                                         f"got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative whole number, got {text!r}")
    return value


def positive_count(text) -> int:
    """argparse ``type``: a whole number >= 1 (``1e6`` and ``10**6`` accepted)."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def finite_float(text) -> float:
    """argparse ``type``: a finite real number (``nan`` and ``inf`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def available_memory() -> int:
    """Bytes of memory available to a new allocation (psutil, else ``/proc/meminfo``, else 8 GiB)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2 ** 30


def format_bytes(n: float) -> str:
    """``format_bytes(3 * 2**40) == '3.0 TiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def format_seconds(s: float) -> str:
    """A duration for people: ``format_seconds(90) == '1.5 min'``."""
    if not math.isfinite(s):
        return "forever"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h"
    if s < 86400 * 365 * 2:
        return f"{s / 86400:.1f} days"
    return f"{s / (86400 * 365.25):.3g} years"


def check_memory(nbytes: float, what: str, *, fraction: float = 0.8) -> None:
    """Refuse (``MemoryError`` with the numbers) a request needing more than ``fraction`` of
    the available memory; ``what`` names the request, e.g. ``"--samples 10**12"``."""
    avail = available_memory()
    if nbytes > fraction * avail:
        raise MemoryError(f"{what} needs about {format_bytes(nbytes)} of memory; this machine has "
                          f"{format_bytes(avail)} available")


#: Work expected to take longer than this (seconds) shows an estimate and a progress bar.
PROGRESS_AFTER_S = 3.0


def chunk_ranges(total: int, chunk: int, desc: str, *, unit: str = "sample", progress: bool = True,
                 stream=None, max_seconds: float | None = None):
    """Yield ``(start, stop)`` ranges covering ``range(total)`` in pieces of ``chunk``.

    After the first piece the remaining time is estimated from its rate; when it exceeds
    ``max_seconds`` the work stops there with :func:`check_seconds`'s one-line refusal (the
    time rule of every long job); when it exceeds :data:`PROGRESS_AFTER_S` one line
    ``DESC: N UNITs, expected about T on this machine`` is printed to stderr and a tqdm bar
    (with its ETA) follows the rest.  Short work prints nothing.  The ranges, hence the
    numbers computed, do not depend on ``progress``.
    """
    import time

    stream = sys.stderr if stream is None else stream
    chunk = max(1, int(chunk))
    bar = None
    t0 = time.perf_counter()
    try:
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            yield start, stop
            if bar is not None:
                bar.update(stop - start)
            elif (progress or max_seconds is not None) and start == 0 and stop < total:
                rate = stop / max(time.perf_counter() - t0, 1e-9)
                remaining = (total - stop) / rate
                check_seconds(remaining, max_seconds, f"{desc} of {total:.4g} {unit}s")
                if progress and remaining > PROGRESS_AFTER_S:
                    print(f"{desc}: {total:.4g} {unit}s, expected about {format_seconds(remaining)} "
                          f"on this machine ({rate:.3g} {unit}s/s measured)", file=stream)
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, initial=stop, desc=desc, unit=unit, unit_scale=True,
                               dynamic_ncols=True, file=stream, leave=False)
    finally:
        if bar is not None:
            bar.close()


def output_dir(text: str) -> Path:
    """argparse ``type`` for an output folder (created later if needed): checked at parse time."""
    try:
        return check_output_path(text, "output folder", directory=True)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_float(text) -> float:
    """argparse ``type``: a positive finite real number (a scale, a step, a time limit)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# The rules of the second round of bad input (docs/reliability.md, "Rules"): one helper per rule,
# so that every command line applies the same rule in the same words.

#: The default of every ``--max-seconds``: work estimated to take longer is refused before it starts.
DEFAULT_MAX_SECONDS = 3600.0


def add_max_seconds(parser, default: float = DEFAULT_MAX_SECONDS, what: str = "the work"):
    """Add the one ``--max-seconds S`` option of every long job (a positive finite number)."""
    parser.add_argument("--max-seconds", type=positive_float, default=default, metavar="S",
                        help=f"refuse {what} when it is estimated to take longer than S seconds on "
                             f"this machine, before it starts (default: %(default)g)")


def check_seconds(estimate: float, max_seconds: float | None, what: str, remedy: str | None = None) -> None:
    """The time rule: refuse (:class:`UsageError`) ``what`` when its ``estimate`` (seconds on this
    machine) exceeds ``max_seconds``; ``None`` means no limit.  A NaN or infinite estimate is refused.

    >>> check_seconds(10.0, 60.0, "the run")
    >>> check_seconds(1e9, 60.0, "--samples 1e14")
    Traceback (most recent call last):
    ...
    lattices.cli.UsageError: --samples 1e14 would take about 31.7 years on this machine, over --max-seconds 60; ask for less or raise --max-seconds
    """
    if max_seconds is None or estimate <= max_seconds:
        return
    raise UsageError(f"{what} would take about {format_seconds(estimate)} on this machine, over "
                     f"--max-seconds {max_seconds:g}; {remedy or 'ask for less'} or raise --max-seconds")


def check_at_most(value, limit, what: str, why: str = "") -> None:
    """The size rule, checked before any allocation: ``what`` (e.g. ``"--hidden"``) must be <= ``limit``.

    >>> check_at_most(10**9, 65536, "--hidden", "the widest layer this toolkit builds")
    Traceback (most recent call last):
    ...
    lattices.cli.UsageError: --hidden 1000000000 is too large: at most 65536 (the widest layer this toolkit builds)
    """
    if value > limit:
        raise UsageError(f"{what} {value} is too large: at most {limit}" + (f" ({why})" if why else ""))


def check_not_overwriting(out, *, inputs=(), folders=(), what: str = "--out") -> Path:
    """The no-loss rule for an output path, checked before any work: ``out`` must not be one of
    ``inputs`` (the same file, through any path or link), nor an existing file inside one of
    ``folders`` (e.g. a run folder: its checkpoints and config).  Returns ``Path(out)``."""
    out = Path(out)
    resolved = out.resolve()
    for item in inputs:
        item = Path(item)
        same = item.resolve() == resolved
        if not same and out.exists() and item.exists():
            try:
                same = os.path.samefile(out, item)
            except OSError:
                same = False
        if same:
            raise UsageError(f"{what} {str(out)!r} is the input {str(item)!r}: writing it would "
                             f"destroy the input; choose another path")
    for folder in folders:
        folder = Path(folder).resolve()
        if out.exists() and (resolved == folder or folder in resolved.parents):
            raise UsageError(f"{what} {str(out)!r} is a file of the run folder {str(folder)!r}; "
                             f"writing it would replace it: choose a new path")
    return out


def input_file(text) -> Path:
    """argparse ``type`` for an input file: it must exist and be a file (a folder is named as such)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(text)!r} is a folder; give a file")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{str(text)!r} does not exist")
    return path


def input_dir(text) -> Path:
    """argparse ``type`` for an input folder: it must exist and be a folder (a file is named as such)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(text)!r} is a file; give a folder")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{str(text)!r} does not exist")
    return path


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with each option's default shown once: ``(default: X)`` is added only where the
    help does not state it already and the default says something (not ``None``, ``False`` or
    an empty list: "without it, ..." in the help says what happens then)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default              # by identity: a default of 0 is shown (0 == False)
        if ("%(default)" in text or "(default" in text or default is None or default is False
                or default is argparse.SUPPRESS or (isinstance(default, list) and not default)):
            return text
        return super()._get_help_string(action)
