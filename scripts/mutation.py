"""Mutation testing of the lab's verdict code: does each module's test file catch a bug?

A small runner of our own. For every module it parses the source with :mod:`ast`, makes one
small change at a time (a *mutant*: ``<`` for ``<=``, ``-`` for ``+``, a constant moved, an
``and`` turned into ``or``, a statement dropped …), writes that mutant into a throw-away
copy of the repository and runs the module's mapped tests against the copy. A mutant whose
tests fail is *killed*; one whose tests still pass *survived*: a bug the tests would let
through. The real tree is never edited, so an interrupted run leaves nothing behind.

Mutants that cannot change behaviour (equivalent mutants) are declared, with a reason, in
``scripts/mutation-equivalent.toml``; the score is killed / (total − declared equivalent).

Each copy has a fork server that imports the third-party libraries (pytest, hypothesis,
pydantic, SQLAlchemy) once and forks a fresh child per mutant, which imports our packages
from the copy; ``--no-fork`` runs ``python -m pytest -x -q -p no:cacheprovider`` per mutant
instead. Before any mutant, each module's tests must pass unmutated in the copy, the module
must be imported from the copy (not from the editable install), and a canary mutant (the
module raising on import) must be killed. A mutant that outruns its timeout counts as
killed and is reported apart.

Usage: ``scripts/mutation [MODULE ...] [--min-score 90] [-j N] [--timeout S]
[--list] [--show ID ...] [--only ID ...] [--no-fork]``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import difflib
import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutation-equivalent.toml"

#: Each module under test and the test files that must catch its mutants. The one table:
#: add a test file here when it is written for one of these modules.
TESTS: dict[str, tuple[str, ...]] = {
    "daq/recipes.py": (
        "tests/press_cycle/test_recipes.py",
    ),
    "daq/peel/calculation.py": (
        "tests/peel/test_calculation.py",
    ),
    "daq/laser/grading.py": (
        "tests/laser/test_rules_properties.py",
    ),
    "daq/aging/accounting.py": (
        "tests/aging/test_accounting.py",
    ),
}

PYTEST = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")

#: Names whose calls are logging: their arguments are messages, never verdicts.
LOGGER_NAMES = frozenset({"log", "logger", "_log", "_logger", "LOG", "logging", "warnings"})


# -- mutants ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """One small change to one module, with the whole mutated source ready to write."""

    module: str
    line: int
    line_text: str
    kind: str
    original: str
    mutated: str
    source: str
    occurrence: int

    @property
    def id(self) -> str:
        """Stable across edits elsewhere in the file: the line's text, not its number."""
        key = "\0".join(
            (self.module, self.line_text, self.kind, self.original, self.mutated,
             str(self.occurrence))
        )
        stem = Path(self.module).stem
        return f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"

    def describe(self) -> str:
        """``line 42 [compare]  a < b  →  a <= b``."""
        return f"line {self.line} [{self.kind}]  {self.original}  →  {self.mutated}"

    def diff(self, original_source: str) -> str:
        """A unified diff of the mutant against the module."""
        return "".join(
            difflib.unified_diff(
                original_source.splitlines(keepends=True),
                self.source.splitlines(keepends=True),
                self.module, f"{self.module} ({self.id})",
            )
        )


#: Comparison operators and what each becomes: the boundary moved, then the sense flipped.
COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}

ARITH_SWAPS: dict[type[ast.operator], tuple[type[ast.operator], ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Div,),
    ast.Div: (ast.Mult,),
    ast.FloorDiv: (ast.Div,),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
}


def number_variants(value: int | float | complex) -> list[int | float]:
    """What a numeric constant becomes: c+1 and 0 for an int; c×1.1 and 0 for a float.

    Constants in the tree are never negative (``-1`` is a unary minus on ``1``)."""
    if isinstance(value, complex):
        return []
    if isinstance(value, int):
        return [value + 1] if value == 0 else [value + 1, 0]
    if value == 0.0:
        return [1.0]
    return [value * 1.1, 0.0]


@dataclass(frozen=True)
class _Candidate:
    """A place in the tree and what replaces it (``None``: the statement is dropped)."""

    node: ast.AST
    kind: str
    replacement: ast.AST | None


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    return parents


def _is_docstring(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    parent = parents.get(id(node))
    if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant):
        return False
    if not isinstance(node.value.value, str):
        return False
    return isinstance(parent, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)


def _is_logging_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    while isinstance(func, ast.Attribute):
        if isinstance(func.value, ast.Name) and func.value.id in LOGGER_NAMES:
            return True
        func = func.value
    return False


def _never_mutated(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Docstrings, logging calls, f-strings (messages), ``__all__``, imports and
    ``if TYPE_CHECKING:`` blocks: changing them changes no verdict."""
    if _is_docstring(node, parents) or _is_logging_call(node):
        return True
    if isinstance(node, ast.JoinedStr | ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    if isinstance(node, ast.If):
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        return name == "TYPE_CHECKING"
    return False


def _skipped_subtrees(tree: ast.Module, parents: dict[int, ast.AST]) -> set[int]:
    """Every node inside something never mutated, and every annotation."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(sub) for sub in ast.walk(node))

    for node in ast.walk(tree):
        if _never_mutated(node, parents):
            mark(node)
        elif isinstance(node, ast.AnnAssign | ast.arg):
            mark(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
    return skip


def _default_values(tree: ast.Module) -> set[int]:
    """Default values: of function arguments and of class-level fields (dataclass, pydantic)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    out.add(id(default))
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    out.add(id(stmt.value))
    return out


def _compare(node: ast.Compare) -> Iterator[_Candidate]:
    for i, op in enumerate(node.ops):
        for new_op in COMPARE_SWAPS.get(type(op), ()):
            mutated = copy.deepcopy(node)
            mutated.ops[i] = new_op()
            yield _Candidate(node, "compare", mutated)


def _arith(node: ast.BinOp | ast.AugAssign) -> Iterator[_Candidate]:
    for new_op in ARITH_SWAPS.get(type(node.op), ()):
        mutated = copy.deepcopy(node)
        mutated.op = new_op()
        yield _Candidate(node, "arith", mutated)
    if isinstance(node, ast.AugAssign):
        yield _Candidate(node, "statement", None)


def _boolop(node: ast.BoolOp) -> Iterator[_Candidate]:
    mutated = copy.deepcopy(node)
    mutated.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    yield _Candidate(node, "boolop", mutated)


def _unary(node: ast.UnaryOp) -> Iterator[_Candidate]:
    if isinstance(node.op, ast.Not):
        yield _Candidate(node, "not", copy.deepcopy(node.operand))
    elif isinstance(node.op, ast.USub):
        yield _Candidate(node, "sign", copy.deepcopy(node.operand))


def _constant(node: ast.Constant, is_default: bool) -> Iterator[_Candidate]:
    value = node.value
    if isinstance(value, bool):
        yield _Candidate(node, "bool", ast.Constant(not value))
    elif isinstance(value, int | float):
        for new in number_variants(value):
            yield _Candidate(node, "number", ast.Constant(new))
    elif isinstance(value, str) and is_default:
        # Strings are messages except where they are a default (a recipe's name).
        yield _Candidate(node, "default", ast.Constant("XX" + value + "XX"))


def _call(node: ast.Call) -> Iterator[_Candidate]:
    if isinstance(node.func, ast.Name):
        swap = {"min": "max", "max": "min"}.get(node.func.id)
        if swap is not None:
            mutated = copy.deepcopy(node)
            mutated.func = ast.Name(swap, ast.Load())
            yield _Candidate(node, "minmax", mutated)


def _statement(node: ast.AST, parents: dict[int, ast.AST]) -> Iterator[_Candidate]:
    if isinstance(node, ast.Return) and node.value is not None and not (
        isinstance(node.value, ast.Constant) and node.value.value is None
    ):
        yield _Candidate(node, "return", ast.Return(ast.Constant(None)))
    elif isinstance(node, ast.Raise) or (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and not _is_docstring(node, parents)
    ):
        yield _Candidate(node, "statement", None)


def _candidates(tree: ast.Module) -> Iterator[_Candidate]:
    parents = _parents(tree)
    skip = _skipped_subtrees(tree, parents)
    defaults = _default_values(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            yield from _compare(node)
        elif isinstance(node, ast.BinOp | ast.AugAssign):
            yield from _arith(node)
        elif isinstance(node, ast.BoolOp):
            yield from _boolop(node)
        elif isinstance(node, ast.UnaryOp):
            yield from _unary(node)
        elif isinstance(node, ast.Constant):
            yield from _constant(node, id(node) in defaults)
        elif isinstance(node, ast.Call):
            yield from _call(node)
        yield from _statement(node, parents)


def _splice(source: str, node: ast.AST, replacement: ast.AST | None) -> tuple[str, str, str]:
    """The source with ``node`` replaced, and the original and new text of that place."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    data = source.encode("utf-8")
    start = offsets[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
    end = offsets[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
    original = data[start:end].decode("utf-8")
    new = "pass" if replacement is None else ast.unparse(replacement)
    # Parentheses keep an expression's precedence whatever surrounds it.
    text = f"({new})" if isinstance(replacement, ast.expr) else new
    mutated = (data[:start] + text.encode("utf-8") + data[end:]).decode("utf-8")
    return mutated, " ".join(original.split()), new


def generate_mutants(module: str, source: str) -> list[Mutant]:
    """Every mutant of one module, in source order."""
    tree = ast.parse(source)
    lines = source.splitlines()
    pragma = {i + 1 for i, text in enumerate(lines) if "pragma: no mutate" in text}
    mutants: list[Mutant] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for cand in _candidates(tree):
        line = cand.node.lineno  # type: ignore[attr-defined]
        if line in pragma:
            continue
        mutated_source, original, new = _splice(source, cand.node, cand.replacement)
        if not _parses_as_intended(tree, cand.node, cand.replacement, mutated_source):
            raise RuntimeError(f"{module}:{line}: mutant {original!r} → {new!r} misparsed")
        line_text = lines[line - 1].strip()
        key = (line_text, cand.kind, original, new)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        mutants.append(
            Mutant(module, line, line_text, cand.kind, original, new, mutated_source,
                   occurrence)
        )
    mutants.sort(key=lambda m: m.line)
    return mutants


def _parses_as_intended(
    tree: ast.Module, node: ast.AST, replacement: ast.AST | None, mutated_source: str
) -> bool:
    """The spliced text parses to exactly the tree with ``node`` replaced (a self-check of
    the splice: parentheses, offsets and multi-line nodes)."""
    memo: dict[int, object] = {}
    want = copy.deepcopy(tree, memo)
    target = memo[id(node)]
    new = ast.Pass() if replacement is None else replacement
    for parent in ast.walk(want):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
            elif isinstance(value, list):
                setattr(parent, name, [new if item is target else item for item in value])
    return ast.dump(want) == ast.dump(ast.parse(mutated_source))


# -- equivalent mutants ----------------------------------------------------------------


@dataclass(frozen=True)
class Equivalent:
    """A reviewed declaration: this mutant cannot change what the module does."""

    module: str
    reason: str
    id: str | None = None
    line: str | None = None
    original: str | None = None
    mutated: str | None = None

    def matches(self, m: Mutant) -> bool:
        """Matched by stable id, or by the line's text and the mutation."""
        if m.module != self.module:
            return False
        if self.id is not None:
            return m.id == self.id
        return (
            self.line == m.line_text
            and self.original == m.original
            and self.mutated == m.mutated
        )


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """The declarations in ``scripts/mutation-equivalent.toml`` (each with a reason)."""
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: list[Equivalent] = []
    for entry in data.get("equivalent", []):
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise SystemExit(f"{path}: every equivalent mutant needs a reason: {entry}")
        if "id" not in entry and not {"line", "original", "mutant"} <= entry.keys():
            raise SystemExit(f"{path}: give id, or line + original + mutant: {entry}")
        out.append(
            Equivalent(
                module=str(entry["module"]),
                reason=reason,
                id=entry.get("id"),
                line=entry.get("line"),
                original=entry.get("original"),
                mutated=entry.get("mutant"),
            )
        )
    return out


# -- running ---------------------------------------------------------------------------


class Outcome(Enum):
    """What the tests did with one mutant."""

    KILLED = "killed"
    TIMEOUT = "timeout"
    SURVIVED = "survived"
    EQUIVALENT = "equivalent"


#: Our own packages: never imported by the fork server, so every child imports the mutant.
PROJECT_PACKAGES = ("daq", "drivers", "simulators", "tests", "bench", "campaigns")

#: Imported once by the fork server (seconds of import per run otherwise); third-party only.
PREIMPORT = (
    "pytest", "_pytest.python", "_pytest.assertion.rewrite", "hypothesis",
    "hypothesis.strategies", "hypothesis.extra.pytestplugin", "_hypothesis_pytestplugin",
    "pytest_asyncio", "pydantic", "pydantic_core", "sqlalchemy", "sqlalchemy.ext.asyncio",
    "aiosqlite", "asyncpg", "aiomqtt", "paho.mqtt.client", "fastapi", "httpx",
    "schemathesis", "anyio", "asyncio", "json", "tomllib",
)


def serve() -> int:
    """The fork server (``mutation.py --serve``, run inside a copy): import the heavy
    third-party modules once, then for each request on stdin fork a child that runs pytest
    (or reports where a module is imported from) and answer with its exit status.

    Only third-party modules are preloaded; a project module found in ``sys.modules``
    aborts the server, since a child would then test the cached original, not the mutant.
    """
    import importlib
    import json

    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional library only costs time
            continue
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in PROJECT_PACKAGES)
    if leaked:
        print(json.dumps({"error": f"project modules preloaded: {leaked}"}), flush=True)
        return 1
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        try:
            rc, seconds = _wait(pid, float(request["timeout"]))
        except BaseException:
            # Interrupted (Ctrl-C, the runner gone): take the child down with us.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            raise
        print(json.dumps({"rc": rc, "seconds": seconds, "out": _child_output(pid)}),
              flush=True)
    return 0


def _child_output(pid: int) -> str:
    out = Path(tempfile.gettempdir()) / f"lamina-mutation-{pid}.out"
    try:
        return out.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return ""
    finally:
        out.unlink(missing_ok=True)


def _child(request: dict[str, object]) -> None:
    """In the forked child: run the request with stdout and stderr in a file; never return."""
    code = 70
    try:
        os.setsid()
        out = Path(tempfile.gettempdir()) / f"lamina-mutation-{os.getpid()}.out"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.path.insert(0, os.getcwd())  # as ``python -m pytest`` does
        if request.get("where"):
            import importlib

            module = importlib.import_module(str(request["where"]))
            print(module.__file__, flush=True)
            code = 0
        else:
            import pytest

            listed = request.get("tests")
            assert isinstance(listed, list)
            tests = [str(t) for t in listed]
            code = int(pytest.main([*PYTEST[2:], *tests]))
    except BaseException as exc:  # whatever happens, the child exits
        print(f"mutation child: {exc!r}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout_s: float) -> tuple[int | None, float]:
    """The child's exit status, or ``None`` (its process group killed) after the timeout."""
    started = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, time.monotonic() - started
        time.sleep(0.02)


@dataclass
class Sandbox:
    """A throw-away copy of the repository that mutants are written into, with its own
    fork server (or, with ``fork=False``, one ``python -m pytest`` process per run)."""

    path: Path
    fork: bool = True
    server: subprocess.Popen[str] | None = None

    @classmethod
    def create(cls, parent: Path, fork: bool = True) -> Sandbox:
        """Copy every tracked and untracked-but-not-ignored file (so new tests count)."""
        root = Path(tempfile.mkdtemp(prefix="copy-", dir=parent))
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, check=True, capture_output=True,
        ).stdout.decode().split("\0")
        for rel in filter(None, listed):
            src = ROOT / rel
            if not src.is_file():
                continue  # deleted in the work tree but still in the index
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        box = cls(root, fork)
        if fork:
            box.server = subprocess.Popen(
                [sys.executable, str(root / "scripts" / "mutation.py"), "--serve"],
                cwd=root, env=box.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True,
            )
            hello = box._receive()
            if "error" in hello:
                raise SystemExit(f"mutation fork server: {hello['error']}")
        return box

    def close(self) -> None:
        """Stop the fork server."""
        if self.server is not None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def _send(self, request: dict[str, object]) -> dict[str, object]:
        import json

        assert self.server is not None and self.server.stdin is not None
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        return self._receive()

    def _receive(self) -> dict[str, object]:
        import json

        assert self.server is not None and self.server.stdout is not None
        line = self.server.stdout.readline()
        if not line:
            raise SystemExit(f"mutation fork server in {self.path} exited")
        answer: dict[str, object] = json.loads(line)
        return answer

    def write(self, module: str, source: str) -> None:
        """Put ``source`` in place of ``module``; drop its bytecode so it is recompiled."""
        target = self.path / module
        target.write_text(source, encoding="utf-8")
        for pyc in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
            pyc.unlink()

    def env(self) -> dict[str, str]:
        """The copy first on the path (before the editable install), and no bytecode written:
        two mutants of the same size written in the same second would share a stale .pyc."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.path),
                                                          env.get("PYTHONPATH")]))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONHASHSEED"] = "0"
        return env

    def run_tests(self, tests: Sequence[str], timeout_s: float) -> tuple[bool | None, float]:
        """(True: passed, False: failed, None: timed out) and the seconds it took."""
        if self.fork:
            answer = self._send({"tests": list(tests), "timeout": timeout_s})
            rc, seconds = answer["rc"], float(str(answer["seconds"]))
            return (None if rc is None else rc == 0), seconds
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, *PYTEST, *tests], cwd=self.path, env=self.env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, time.monotonic() - started
        return code == 0, time.monotonic() - started

    def imported_file(self, module: str) -> Path:
        """Where a test run in the copy finds ``module`` (must be inside the copy)."""
        dotted = module.removesuffix(".py").replace("/", ".")
        if self.fork:
            answer = self._send({"where": dotted, "timeout": 60})
            return Path(str(answer["out"]).strip().splitlines()[-1]).resolve()
        out = subprocess.run(
            [sys.executable, "-c", f"import {dotted} as m; print(m.__file__)"],
            cwd=self.path, env=self.env(), check=True, capture_output=True, text=True,
        ).stdout.strip()
        return Path(out).resolve()


@dataclass
class ModuleReport:
    """The outcome of every mutant of one module."""

    module: str
    outcomes: list[tuple[Mutant, Outcome, str]] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        """How many mutants ended so."""
        return sum(1 for _, o, _ in self.outcomes if o is outcome)

    @property
    def total(self) -> int:
        """Every mutant, equivalent ones included."""
        return len(self.outcomes)

    @property
    def score(self) -> float:
        """Killed (timeouts included) over the mutants that can be killed, in %."""
        killable = self.total - self.count(Outcome.EQUIVALENT)
        killed = self.count(Outcome.KILLED) + self.count(Outcome.TIMEOUT)
        return 100.0 if killable == 0 else 100.0 * killed / killable


def check_sandbox(box: Sandbox, module: str, tests: Sequence[str], original: str,
                  timeout_s: float) -> float:
    """Baseline passes, the copy is what is imported, and a canary mutant is killed.

    Returns the baseline's duration (the per-mutant timeout is derived from it)."""
    where = box.imported_file(module)
    if not where.is_relative_to(box.path.resolve()):
        raise SystemExit(f"{module} is imported from {where}, not from the copy {box.path}")
    passed, seconds = box.run_tests(tests, timeout_s)
    if not passed:
        raise SystemExit(f"{module}: its tests {' '.join(tests)} fail without any mutant")
    box.write(module, original + '\nraise RuntimeError("mutation canary")\n')
    try:
        canary, _ = box.run_tests(tests, timeout_s)
    finally:
        box.write(module, original)
    if canary is not False:
        raise SystemExit(f"{module}: the canary mutant survived; the copy is not under test")
    return seconds


def run(
    modules: Sequence[str], jobs: int, only: set[str] | None, timeout_s: float | None,
    progress: Callable[[str], None], fork: bool = True,
) -> list[ModuleReport]:
    """Run every mutant of ``modules`` (one at a time per job) and report each module."""
    equivalents = load_equivalents()
    sources = {m: (ROOT / m).read_text(encoding="utf-8") for m in modules}
    reports = {m: ModuleReport(m) for m in modules}
    todo: list[Mutant] = []
    for module in modules:
        for mutant in generate_mutants(module, sources[module]):
            if only is not None and mutant.id not in only:
                continue
            declared = next((e for e in equivalents if e.matches(mutant)), None)
            if declared is not None:
                reports[module].outcomes.append((mutant, Outcome.EQUIVALENT, declared.reason))
            else:
                todo.append(mutant)
    stale = [e for e in equivalents if e.module in modules and only is None
             and not any(e.matches(m) for m, _, _ in reports[e.module].outcomes)]
    for e in stale:
        progress(f"warning: equivalent declaration matches no mutant: {e}")

    workdir = Path(tempfile.mkdtemp(prefix="lamina-mutation-"))
    every_box: list[Sandbox] = []
    try:
        boxes: queue.Queue[Sandbox] = queue.Queue()
        limits: dict[str, float] = {}
        for i in range(max(1, jobs)):
            box = Sandbox.create(workdir, fork)
            every_box.append(box)
            if i == 0:
                for module in modules:
                    baseline = check_sandbox(box, module, TESTS[module], sources[module], 600)
                    limits[module] = timeout_s or max(60.0, 4.0 * baseline + 20.0)
                    progress(f"{module}: baseline {baseline:.1f} s, canary killed, "
                             f"timeout {limits[module]:.0f} s per mutant")
            boxes.put(box)
        done = 0

        def one(mutant: Mutant) -> tuple[Mutant, Outcome, float]:
            box = boxes.get()
            try:
                box.write(mutant.module, mutant.source)
                passed, seconds = box.run_tests(TESTS[mutant.module], limits[mutant.module])
            finally:
                box.write(mutant.module, sources[mutant.module])
                boxes.put(box)
            if passed is None:
                return mutant, Outcome.TIMEOUT, seconds
            return mutant, Outcome.SURVIVED if passed else Outcome.KILLED, seconds

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            for mutant, outcome, seconds in pool.map(one, todo):
                done += 1
                reports[mutant.module].outcomes.append((mutant, outcome, ""))
                mark = {"killed": ".", "timeout": "T", "survived": "S"}[outcome.value]
                progress(f"[{done}/{len(todo)}] {mark} {seconds:4.1f} s {mutant.id} "
                         f"{mutant.module} {mutant.describe()}")
    finally:
        for box in every_box:
            box.close()
        shutil.rmtree(workdir, ignore_errors=True)
    for report in reports.values():
        report.outcomes.sort(key=lambda o: o[0].line)
    return [reports[m] for m in modules]


def print_report(
    reports: Sequence[ModuleReport], min_score: float, verbose: bool = True
) -> bool:
    """Per module: the counts, the score and every survivor. True if all reach min_score."""
    ok = True
    for r in reports:
        print(f"\n{r.module}: {r.total} mutants, {r.count(Outcome.KILLED)} killed, "
              f"{r.count(Outcome.TIMEOUT)} timed out, {r.count(Outcome.SURVIVED)} survived, "
              f"{r.count(Outcome.EQUIVALENT)} equivalent: score {r.score:.1f} %")
        for mutant, outcome, reason in r.outcomes:
            if outcome is Outcome.SURVIVED:
                print(f"  survived   {mutant.id}  {mutant.describe()}")
            elif outcome is Outcome.TIMEOUT:
                print(f"  timed out  {mutant.id}  {mutant.describe()}")
            elif outcome is Outcome.EQUIVALENT and verbose:
                print(f"  equivalent {mutant.id}  {mutant.describe()}: {reason}")
        if r.score < min_score:
            ok = False
            print(f"  below {min_score:g} %")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/mutation [MODULE ...]``: exit status 1 if a module scores below the bar."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", default=list(TESTS), metavar="MODULE",
                        help=f"modules to mutate (default: {' '.join(TESTS)})")
    parser.add_argument("--min-score", type=float, default=90.0,
                        help="lowest acceptable score in %% (default 90)")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="mutants run at once, each in its own copy (default 1)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant (default: 4 × baseline + 20 s, at least 60 s)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutant ids")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", nargs="+", metavar="ID", help="print these mutants' diffs")
    parser.add_argument("--no-fork", action="store_true",
                        help="a fresh `python -m pytest` per mutant instead of the fork server")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    modules = [m.removeprefix("./") for m in args.modules]
    unknown = [m for m in modules if m not in TESTS]
    if unknown:
        parser.error(f"no tests mapped for {', '.join(unknown)} (see TESTS in {__file__})")
    if args.list or args.show:
        for module in modules:
            source = (ROOT / module).read_text(encoding="utf-8")
            for m in generate_mutants(module, source):
                if args.show and m.id in args.show:
                    print(m.diff(source))
                elif args.list:
                    print(f"{m.id}  {m.module}  {m.describe()}")
        return 0
    only = set(args.only) if args.only else None
    # A plain kill must still run the clean-up (fork servers stopped, copies removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reports = run(modules, args.jobs, only, args.timeout,
                  lambda line: print(line, file=sys.stderr, flush=True), not args.no_fork)
    return 0 if print_report(reports, args.min_score) else 1


if __name__ == "__main__":
    sys.exit(main())
