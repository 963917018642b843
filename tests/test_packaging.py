"""What installing the package gives a user: only the library's top-level packages, a true
Python-version claim, optional extras that fail with an install hint, public shared helpers, and
docstrings that point nowhere outside the repository, and an import graph without cycles whose
floors run one way (lattices <- theory <- vae <- validation)."""
import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("lattices", "theory", "vae", "validation")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _sources(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_wheel_holds_only_the_library_packages(tmp_path):
    """Build the wheel from a copy of the source tree (benchmarks/ and tests/ included) and list
    its top-level names: the four library packages and the metadata, never ``benchmarks``."""
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build wheels without the wheel package")
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in (*LIBRARY, "benchmarks", "tests"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top - {n for n in top if n.endswith(".dist-info")} == set(LIBRARY)
    for module in ("lattices/utils/io.py", "theory/lattice_prior.py", "theory/densities.py",
                   "vae/callbacks.py", "vae/testing.py"):
        assert module in names


def test_requires_python_holds_for_the_interpreter_running_the_suite():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    version = ".".join(map(str, sys.version_info[:3]))
    assert version in spec
    # the oldest version claimed is one the code can run on: tomllib (vae.sweep) is 3.11+
    assert "3.10.12" not in spec and "3.11.0" in spec


def test_extras_serve_one_part_each():
    extras = PYPROJECT["project"]["optional-dependencies"]
    core = " ".join(PYPROJECT["project"]["dependencies"])
    assert "dask" not in core and "tensorboard" not in core
    assert any(r.startswith("dask[distributed]") for r in extras["sweep"])
    assert any(r.startswith("tensorboard") for r in extras["tensorboard"])


def test_sweep_without_dask_is_exit_2_with_the_install_hint(tmp_path, capsys, monkeypatch):
    from vae import sweep

    monkeypatch.setitem(sys.modules, "dask.distributed", None)          # as if not installed
    code = sweep.main([str(ROOT / "configs" / "mnist-linear-small.json"), "--out", str(tmp_path / "s")])
    assert code == 2
    assert "pip install 'lattice-representation-learning[sweep]'" in capsys.readouterr().err


def test_no_package_imports_a_private_module_of_another():
    """Helpers used across packages are public (lattices.utils), not ``lattices._x``."""
    pattern = re.compile(r"^\s*(?:from|import)\s+(lattices|theory|vae|validation)\.(_\w+)", re.M)
    #: a benchmark may time the decoder kernels themselves (the per-point reference against the
    #: tile kernels); the library packages never reach into each other's private modules
    kernels = {"_kernels", "_spec", "_torch_kernels"}
    for path in _sources("theory", "vae", "validation", "benchmarks"):
        package = path.relative_to(ROOT).parts[0]
        other = [p for p, mod in pattern.findall(path.read_text()) if p != package
                 and not (package == "benchmarks" and p == "lattices" and mod in kernels)]
        assert not other, f"{path.relative_to(ROOT)} imports a private module of {other}"


def test_no_docstring_or_comment_points_outside_the_repository():
    """Installed code cannot send a reader to the project's working notes (SPEC, STYLE) or to a
    sibling folder's paper; ``../shared/data`` is a data-folder default, which is behaviour."""
    pattern = re.compile(r"\bSTYLE\s*\d|\bSPEC\b|SPEC\.md|STYLE\.md|\.\./shared/(?!data)")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in _sources(*LIBRARY, "benchmarks", "tests")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
                 and p.name != "test_packaging.py"]
    offenders += [f"{p.relative_to(ROOT)}" for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
                  if pattern.search(p.read_text())]
    assert not offenders, offenders


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (never executed)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the library modules it imports, counting imports inside functions too (a lazy
    import still ties the two modules together) and ``"module:Name"`` strings that name a
    library module (absolute, or relative to the module's package: registries resolved with
    importlib); ``from pkg import name`` is the submodule ``pkg.name`` when one exists, else ``pkg``."""
    modules = {_module_name(p): p for p in _sources(*LIBRARY)}

    def known(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    lazy_name = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*$")
    graph = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets.update(known(f"{base}.{a.name}") or known(base) for a in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = lazy_name.match(node.value)
                if m:
                    targets.update(t for t in (m.group(1), f"{package}.{m.group(1)}") if t in modules)
        graph[mod] = {t for t in targets if t and t != mod}
    return graph


def _cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan 1972)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_import_graph_has_no_cycles_and_floors_run_one_way():
    graph = _import_graph()
    assert {"lattices.lattice", "lattices.theta_exact", "theory.discrete_gaussian_prior"} <= set(graph)
    assert "lattices.geometry" in graph["lattices.lattice"]          # the graph sees real edges,
    assert "vae.latents.proxy" in graph["vae.latents"]                 # "proxy:Z2Latent" registry strings
    assert "vae.codec.dgauss_coder" in graph["vae.codec.dispatch"]
    assert _cycles(graph) == []
    floor = {p: i for i, p in enumerate(LIBRARY)}
    upward = [f"{a} -> {b}" for a, targets in graph.items() for b in targets
              if floor[b.split(".")[0]] > floor[a.split(".")[0]]]
    assert upward == []


def test_cycle_finder_finds_a_lazy_cycle():
    """Negative control: the two-module cycle that ``lattices.shells`` and ``code_shells`` had
    (a lazy import one way, a top-level one back) is found."""
    graph = {"a.shells": {"a.code_shells"}, "a.code_shells": {"a.shells", "a.codes"}, "a.codes": set()}
    assert _cycles(graph) == [["a.code_shells", "a.shells"]]


def test_type_checking_imports_are_not_edges():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a.b\nelse:\n    import a.c\n")
    imported = [a.name for n in _runtime_nodes(tree) if isinstance(n, ast.Import) for a in n.names]
    assert imported == ["a.c"]
