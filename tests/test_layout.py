"""The package's shape, held: small modules and functions, imports one way, a light face.

These guard what issue 22 measured and fixed; each fails with the offender's name."""

import ast
import subprocess
import sys
from pathlib import Path

import difflab

SRC = Path(difflab.__file__).parent
TESTS = Path(__file__).parent
MAX_MODULE, MAX_FUNCTION, MAX_PARAMS = 450, 60, 12
# Public maths-layer functions whose keyword-only options are their documented API (issue 22
# keeps the public API as it is): likelihood.log_prob's integration and prior options, and
# sampling.inpaint's per-method options.
MANY_PARAMS = {"likelihood.py:log_prob", "sampling/inpaint.py:inpaint"}
# (importer, what it must not import): the layers run cli → run/training → data → maths
FORBIDDEN = [
    ("", "difflab.cli"),  # nothing in the library imports the command line
    ("", "difflab.bench"),  # nor the benchmarks
    ("training/", "difflab.run"),
    ("run/", "difflab.training"),
    ("data/", "difflab.training"),
    ("data/", "difflab.run"),
    ("sampling/", "difflab.run"),
    ("sampling/", "difflab.training"),
]


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text())


def _is_command(fn: ast.FunctionDef) -> bool:
    return any("command" in ast.unparse(d) for d in fn.decorator_list)


def test_modules_and_functions_are_small():
    too_big = []
    for name, tree in _modules():
        lines = max((n.end_lineno or 0) for n in tree.body) if tree.body else 0
        if lines > MAX_MODULE:
            too_big.append(f"{name}: {lines} lines")
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            # a click command's body counts, its signature (the options again) does not
            first = fn.body[0].lineno if _is_command(fn) else fn.lineno
            if fn.end_lineno - first + 1 > MAX_FUNCTION:
                too_big.append(f"{name}:{fn.name}: {fn.end_lineno - first + 1} lines")
            a = fn.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            params = [p for p in params if p is not None and p.arg not in ("self", "cls")]
            key = f"{name}:{fn.name}"
            if len(params) > MAX_PARAMS and not _is_command(fn) and key not in MANY_PARAMS:
                too_big.append(f"{key}: {len(params)} parameters")
    assert not too_big, too_big


def _imports(tree: ast.Module, module: str) -> set[str]:
    """Absolute names of what `module` (e.g. 'run/base.py') imports, relative ones resolved."""
    package = ["difflab", *module.split("/")[:-1]]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def test_imports_run_one_way():
    wrong = []
    for name, tree in _modules():
        if name == "__main__.py":
            continue  # `python -m difflab` runs the command line
        for face in sorted(_imports(tree, name)):  # `from difflab import train`: a back arrow
            head, _, attr = face.partition(".")
            is_module = (SRC / f"{attr}.py").exists() or (SRC / attr).is_dir()
            if head == "difflab" and attr and "." not in attr and not is_module:
                wrong.append(f"{name} imports {face} from the package's face")
        for where, banned in FORBIDDEN:
            own = banned.removeprefix("difflab.").replace(".", "/") + "/"
            if not name.startswith(where) or name.startswith(own):
                continue
            if name.startswith(("cli/", "bench/")) and banned in ("difflab.bench", "difflab.cli"):
                continue  # the command line runs the benchmarks
            hits = [i for i in _imports(tree, name) if i == banned or i.startswith(banned + ".")]
            if hits:
                wrong.append(f"{name} imports {hits[0]}")
    for path in sorted(TESTS.rglob("*.py")):
        if "difflab.bench" in path.read_text() and path.name != "test_layout.py":
            wrong.append(f"tests/{path.relative_to(TESTS)} imports the benchmarks")
    assert not wrong, wrong


def test_every_import_of_the_package_resolves():
    """Lazy imports inside functions too: a moved module leaves no import pointing nowhere."""
    missing = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            ours = isinstance(node, ast.ImportFrom) and (node.level or node.module == "difflab")
            if ours:
                # the shortest name is the module itself, the others its imported names
                module = min(_imports(ast.Module([node], []), name), key=len)
                parts = module.split(".")[1:]
                path = SRC.joinpath(*parts) if parts else SRC
                if not (path.with_suffix(".py").exists() or (path / "__init__.py").exists()):
                    missing.append(f"{name}:{node.lineno} imports {module}")
    assert not missing, missing


def test_import_difflab_is_light():
    """No pandas, training loop or benchmarks until asked for; the face still resolves."""
    code = (
        "import sys, difflab\n"
        "heavy = [m for m in ('pandas', 'difflab.training', 'difflab.run', 'difflab.bench')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert difflab.train.__module__ == 'difflab.training.fit'\n"
        "assert difflab.load_run.__module__ == 'difflab.run'\n"
        "assert difflab.TrainingData.__module__ == 'difflab.data.training'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_command_line_answers_before_torch():
    """`difflab --help`, `--version` and a refused option load neither torch nor pandas: the
    command modules import the library inside their bodies."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from difflab.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0 and 'train' in r.output, r.output\n"
        "r = CliRunner().invoke(cli, ['sample', '--run', 'x', '--n', '0', '--out', 'y.npy'])\n"
        "assert r.exit_code == 2 and '--n must be positive' in r.output, r.output\n"
        "heavy = [m for m in ('torch', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
