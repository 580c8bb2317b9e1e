"""The TUI must paint before heavy libraries load: check sys.modules."""

import subprocess
import sys

HEAVY = ("mlx", "mlx_lm", "datasets", "plotext", "transformers", "textual_plotext")


def test_tui_app_imports_no_heavy_modules():
    code = f"import sys, tui.app, tui.cli; bad = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_core_never_imports_textual():
    code = (
        "import sys, pkgutil, importlib, core; "
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'core.')]; "
        "[importlib.import_module(n) for n in names]; "
        "print(len(names), [m for m in sys.modules if m.split('.')[0] == 'textual'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, textual = out.stdout.split(" ", 1)
    assert int(count) > 40, out.stdout  # every module of every subpackage was imported
    assert textual.strip() == "[]", out.stdout
