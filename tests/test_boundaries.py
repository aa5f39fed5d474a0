"""Import boundaries (docs/ARCHITECTURE.md): what may import TensorFlow, Streamlit and librosa.

Checked two ways: by importing modules in a fresh interpreter and looking at sys.modules, and by
parsing the source with ast (so an import hidden in a rarely used branch is caught too).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "soundkit"
PAGES = ROOT / "pages"
APP = ROOT / "soundkit_app"  # the Streamlit glue shared by the pages

#: Modules that must be importable without TensorFlow, Keras or Streamlit.
LIGHT = ["soundkit", "soundkit.errors", "soundkit.config", "soundkit.audio", "soundkit.features",
         "soundkit.datasets", "soundkit.predict", "soundkit.jobs", "soundkit.isolate", "soundkit.cli"]
#: Only these may import tensorflow/keras (inside functions).
TF_ALLOWED = {"soundkit/training/batches.py", "soundkit/training/fit.py", "soundkit/training/fit_setup.py", "soundkit/export.py",
              "soundkit/scale/train.py"}  # scale/train.py: training from shards


def _loaded_after_import(modules: list[str]) -> dict[str, list[str]]:
    code = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "heavy = ('tensorflow', 'keras', 'streamlit', 'librosa', 'numba', 'torch')\n"
        "print(json.dumps({h: sorted(m for m in sys.modules if m == h or m.startswith(h + '.'))[:3] for h in heavy}))\n"
    )
    return _fresh_python(code)


def _fresh_python(code: str):
    """Run ``code`` in a fresh interpreter at the repo root; the JSON of its last stdout line."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_light_modules_import_no_tensorflow_or_streamlit():
    loaded = _loaded_after_import([m for m in LIGHT if _exists(m)])
    assert loaded["tensorflow"] == [] and loaded["keras"] == [], loaded
    assert loaded["streamlit"] == [], loaded
    assert loaded["librosa"] == [], loaded


def _exists(module: str) -> bool:
    rel = module.replace(".", "/")
    return (ROOT / f"{rel}.py").exists() or (ROOT / rel / "__init__.py").exists()


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at_module_level) for every import statement of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}
    # imports guarded by `if TYPE_CHECKING:` at the top level count as not executed
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            for sub in ast.walk(node):
                top_level.discard(id(sub))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def _root(module: str) -> str:
    return module.split(".")[0]


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_library_never_imports_streamlit():
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _sources(PACKAGE)
           for mod, line, _ in _imports(p) if _root(mod) in ("streamlit", "soundkit_app")]
    assert bad == [], f"soundkit must not import streamlit or the app's glue (soundkit_app): {bad}"


def test_tensorflow_only_lazily_and_only_where_allowed():
    top, where = [], []
    for p in _sources(PACKAGE):
        rel = str(p.relative_to(ROOT))
        for mod, line, at_top in _imports(p):
            if _root(mod) not in ("tensorflow", "keras"):
                continue
            if at_top:
                top.append(f"{rel}:{line}")
            if rel not in TF_ALLOWED and not rel.startswith("soundkit/models/"):
                where.append(f"{rel}:{line}")
    assert top == [], f"tensorflow/keras imported at module level: {top}"
    assert where == [], f"tensorflow/keras imported outside models/, training/, export.py: {where}"


def test_ray_only_lazily_and_only_in_the_ray_engine():
    """Ray is an optional extra: imported inside functions of soundkit/scale/ray_engine.py alone."""
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in _sources(PACKAGE) for mod, line, at_top in _imports(p)
           if _root(mod) == "ray" and (at_top or str(p.relative_to(ROOT)) != "soundkit/scale/ray_engine.py")]
    assert bad == [], f"ray imported at module level or outside soundkit/scale/ray_engine.py: {bad}"


def test_pages_never_import_tensorflow_or_librosa():
    if not PAGES.is_dir():
        pytest.skip("no pages/ folder")
    files = _sources(PAGES) + [p for p in (ROOT / "streamlit_app.py",) if p.exists()]
    if APP.is_dir():
        files += _sources(APP)
    bad = [f"{p.relative_to(ROOT)}:{line} {mod}" for p in files
           for mod, line, _ in _imports(p) if _root(mod) in ("tensorflow", "keras", "librosa")]
    assert bad == [], f"pages must not import tensorflow or librosa: {bad}"


def test_app_modules_import_alone_without_tensorflow_or_librosa():
    """Each soundkit_app module imports first in a fresh interpreter (no import cycle between them) and
    loads neither TensorFlow nor librosa (the pages import them on every script run)."""
    if not APP.is_dir():
        pytest.skip("no soundkit_app/ package")
    modules = ["soundkit_app"] + [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                                  for p in _sources(APP) if p != APP / "__init__.py"]  # workspace/ and its modules too
    assert len(modules) > 1, modules
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    for k in [k for k in sys.modules if k == 'soundkit_app' or k.startswith('soundkit_app.')]:\n"
        "        del sys.modules[k]\n"
        "    importlib.import_module(m)\n"
        "heavy = ('tensorflow', 'keras', 'librosa')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)[:5]))\n"
    )
    assert _fresh_python(code) == []


def test_checker_sees_nested_imports(tmp_path):
    """The ast check is not vacuous: imports inside functions and branches are found."""
    f = tmp_path / "x.py"
    f.write_text("import os\ndef f():\n    if True:\n        import tensorflow as tf\n    from streamlit import x\n")
    found = {(m, top) for m, _, top in _imports(f)}
    assert found == {("os", True), ("tensorflow", False), ("streamlit", False)}


def _unit(path: Path) -> str:
    """The unit a source file belongs to: a subpackage of soundkit, a module of soundkit, or a top folder."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    if rel[0] == "soundkit" and len(rel) > 1:
        return f"soundkit.{rel[1]}"
    return rel[0]


def _targets(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (``from a import b`` counts as ``a`` and ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def _unit_graph() -> dict[str, set[str]]:
    files = _sources(PACKAGE) + _sources(APP) + [ROOT / "streamlit_app.py"]
    units = {_unit(p) for p in files}
    graph: dict[str, set[str]] = {}
    for p in files:
        me = _unit(p)
        for t in _targets(p):
            parts = t.split(".")
            for k in range(len(parts), 0, -1):  # the longest unit the target names
                if ".".join(parts[:k]) in units:
                    if ".".join(parts[:k]) != me:
                        graph.setdefault(me, set()).add(".".join(parts[:k]))
                    break
    return graph


@pytest.mark.parametrize("a, b", [("soundkit.augment", "soundkit.training"), ("soundkit.datasets", "soundkit.store"),
                                  ("soundkit_app", "streamlit_app")])
def test_no_import_circle_between(a, b):
    """The three circles the house had are gone, counting imports inside functions too: the study that
    trains lives in soundkit.augment_study, the shared types in soundkit.clips, the navigation in
    soundkit_app.navigation."""
    graph = _unit_graph()
    assert b in graph.get(a, set()) or a in graph.get(b, set()), f"{a} and {b} no longer touch: update this test"
    assert not (b in graph.get(a, set()) and a in graph.get(b, set())), f"{a} and {b} import each other"


def _package_graph(package: str) -> dict[str, set[str]]:
    """{submodule of soundkit.<package>: the package's submodules it imports} (anywhere in it: inside
    functions, relative imports, ``from soundkit.<package> import module``); a name taken from the
    package itself (its __init__) counts as ``"__init__"``. A dotted ``package`` is a full name
    (``soundkit_app.workspace``)."""
    dotted = package if "." in package else f"soundkit.{package}"
    folder, parent = ROOT.joinpath(*dotted.split(".")), dotted.rpartition(".")[0]
    mods = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for p in sorted(folder.glob("*.py")):
        if p.stem == "__init__":
            continue
        out: set[str] = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"), filename=str(p))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == parent:
                names = [f"{parent}.{a.name}" for a in node.names]  # "from soundkit import store"
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == dotted:
                names = [f"{dotted}.{a.name}" if a.name in mods else dotted for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):  # relative: "from . import x", "from .x import y"
                names = [f"{dotted}.{node.module}" if node.module else dotted]
            for name in names:
                if name == dotted:
                    out.add("__init__")
                elif name.startswith(dotted + "."):
                    out.add(name[len(dotted) + 1:].split(".")[0])
        graph[p.stem] = out - {p.stem}
    return graph


#: Packages of one concern per module, and one import each must be seen to make (the check reads them).
PACKAGES = {"store": ("deletion", "database"), "cli": ("train", "common"), "training": ("fit", "batches"),
            "listen": ("listener", "scorers"), "soundkit_app.workspace": ("session", "expiry")}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_modules_import_downwards_only(package):
    """soundkit/store/, cli/, training/, listen/ and soundkit_app/workspace/ hold one concern per module:
    none imports its package's __init__ (which imports them all) and their imports of each other,
    inside functions included, form no circle."""
    graph = _package_graph(package)
    module, dep = PACKAGES[package]
    assert dep in graph.get(module, set()), graph  # the check sees the package's own imports
    from_package = sorted(m for m, deps in graph.items() if "__init__" in deps)
    assert from_package == [], f"these import {package} itself, a circle with its __init__: {from_package}"
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, f"import circle in {package}: {' -> '.join((*path, m))}"
        if m in done:
            return
        for d in sorted(graph.get(m, ())):
            visit(d, (*path, m))
        done.add(m)

    for m in sorted(graph):
        visit(m, ())


def test_workspace_imports_streamlit_only_in_settings_and_session():
    """soundkit_app/workspace/: the ids, folders, disk, quotas, queue, expiry, messages and demo work
    without Streamlit (the queue's pump thread and the CLI-like callers have no session); only the
    secrets (server_settings) and the session's functions import it, and only inside functions."""
    folder = APP / "workspace"
    found = {p.stem: [(line, top) for mod, line, top in _imports(p) if _root(mod) == "streamlit"]
             for p in _sources(folder)}
    assert found["session"] and found["server_settings"], found  # the check sees their imports
    at_top = [f"{m}.py:{line}" for m, hits in found.items() for line, top in hits if top]
    elsewhere = sorted(m for m, hits in found.items() if hits and m not in ("session", "server_settings"))
    assert at_top == [] and elsewhere == [], (at_top, elsewhere)


def test_store_mixins_define_each_method_once():
    """Store is composed of mixins: a name two of them define would silently shadow one (by the MRO)."""
    from soundkit.store import Store

    seen: dict[str, str] = {}
    clashes = []
    for base in Store.__mro__[1:-1]:
        for name in vars(base):
            if name.startswith("__") and name.endswith("__"):
                continue
            if name in seen:
                clashes.append(f"{name}: {seen[name]} and {base.__name__}")
            seen[name] = base.__name__
    assert len(Store.__mro__) > 5 and clashes == [], clashes


def test_training_package_imports_without_tensorflow():
    """Importing soundkit.training and every one of its modules loads neither TensorFlow nor Keras:
    they are imported inside the functions that build or fit a model."""
    modules = ["soundkit.training"] + [f"soundkit.training.{p.stem}" for p in sorted((PACKAGE / "training").glob("*.py"))
                                       if p.stem != "__init__"]
    loaded = _loaded_after_import(modules)
    assert loaded["tensorflow"] == [] and loaded["keras"] == [], loaded
