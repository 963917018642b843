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


#: private modules of ``lattices`` a benchmark may import to time the kernels themselves
BENCHMARK_KERNELS = {"_kernels", "_spec", "_torch_kernels"}


def _attribute_name_given(call: ast.Call):
    """The attribute name a call gives an object, ``setattr(obj, "_x", v)`` or
    ``module.register_buffer("_x", t)``; None for any other call."""
    if isinstance(call.func, ast.Name) and call.func.id == "setattr" and len(call.args) >= 2:
        arg = call.args[1]
    elif (isinstance(call.func, ast.Attribute) and call.func.attr in ("register_buffer", "register_parameter")
          and call.args):
        arg = call.args[0]
    else:
        return None
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _private_attributes(*folders) -> set[str]:
    """The underscore names (not dunder) that classes in ``folders`` define as attributes:
    methods, class-level assignments and annotations, ``self._x = ...`` targets and the names
    given to ``register_buffer`` / ``register_parameter`` / ``setattr`` (torch modules)."""
    names = set()
    for path in _sources(*folders):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for node in cls.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Assign):
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names.add(node.target.id)
            for node in ast.walk(cls):
                if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Name) and node.value.id == "self"):
                    names.add(node.attr)
                elif isinstance(node, ast.Call) and _attribute_name_given(node):
                    names.add(_attribute_name_given(node))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _lattice_private_attributes() -> set[str]:
    """Private attribute names of the classes of ``lattices`` (``Lattice._segments``, ...) that no
    class of the packages above defines too (those names are theirs to use on their objects)."""
    return _private_attributes("lattices") - _private_attributes("theory", "vae", "validation", "benchmarks")


def _private_uses(source: str, package: str, reserved: set[str]) -> list[str]:
    """Where ``source`` (a module of ``package``) reaches into another library package:
    (a) a private module or name imported from it (``from lattices._spec import ...``,
    ``from lattices.theta_exact import _plan``, ``lattices._x``), but for the benchmark kernels;
    (b) an attribute access ``x._name`` with ``_name`` in ``reserved``."""
    def private(package_of, parts):
        allowed = (package == "benchmarks" and package_of == "lattices" and bool(parts)
                   and parts[0] in BENCHMARK_KERNELS)
        return not allowed and any(p.startswith("_") and not p.startswith("__") for p in parts)

    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            top, *rest = node.module.split(".")
            if top in LIBRARY and top != package:
                found += [f"{line}: from {node.module} import {a.name}" for a in node.names
                          if private(top, rest + [a.name])]
        elif isinstance(node, ast.Import):
            for a in node.names:
                top, *rest = a.name.split(".")
                if top in LIBRARY and top != package and private(top, rest):
                    found.append(f"{line}: import {a.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in LIBRARY:
                if base.id != package and private(base.id, chain):
                    found.append(f"{line}: {base.id}.{'.'.join(chain)}")
            elif node.attr in reserved:
                found.append(f"{line}: .{node.attr}")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def test_no_package_reads_a_private_name_of_lattices():
    """Code above ``lattices`` uses its public names only (``Lattice.blocks()``, the
    :class:`lattices.LatticeSpec` protocol), never ``lattice._segments`` or ``lattices._x``."""
    reserved = _lattice_private_attributes()
    assert {"_segments", "_range_error"} <= reserved  # the scan sees Lattice's private names
    offenders = [f"{path.relative_to(ROOT)}:{use}"
                 for path in _sources("theory", "vae", "validation", "benchmarks")
                 for use in _private_uses(path.read_text(), path.relative_to(ROOT).parts[0], reserved)]
    assert offenders == []


def test_private_name_scan_flags_a_planted_use():
    """Negative control: the scan flags each kind of reach into ``lattices`` in a synthetic module."""
    reserved = _lattice_private_attributes()
    source = ("import lattices\nfrom lattices._coded_spec import CodedSpec\n"
              "from lattices.theta_exact import _plan\nfrom lattices import _kernels\n"
              "lat = lattices.get('e8')\nspec = lat._segments[0].spec\nlattices._registry.get('a2')\n")
    assert _private_uses(source, "vae", reserved) == [
        "2: from lattices._coded_spec import CodedSpec", "3: from lattices.theta_exact import _plan",
        "4: from lattices import _kernels", "6: ._segments", "7: lattices._registry"]
    # a benchmark may import the kernel modules, and nothing else private
    assert _private_uses(source, "benchmarks", reserved) == [
        "2: from lattices._coded_spec import CodedSpec", "3: from lattices.theta_exact import _plan",
        "6: ._segments", "7: lattices._registry"]
    assert _private_uses("lat.blocks()[0].spec.exact_constants()\n", "theory", reserved) == []


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
    assert "vae.codec.latent_coders" in graph["vae.codec.dispatch"]
    assert "vae.priors.dgauss" in graph["vae.priors"]                  # "dgauss:DGaussPrior" registry strings
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
