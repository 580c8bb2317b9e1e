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
        "[importlib.import_module('core.' + m.name) for m in pkgutil.iter_modules(core.__path__)]; "
        "print([m for m in sys.modules if m.split('.')[0] == 'textual'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
