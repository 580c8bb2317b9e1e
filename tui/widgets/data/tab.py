"""What the Data screen's tabs share: one-line rows of a label and its boxes."""

from __future__ import annotations

from textual.widgets import TabPane


class DataTab(TabPane):
    DEFAULT_CSS = """
    DataTab { padding: 0; }
    DataTab .row { height: 1; padding: 0 1; }
    DataTab .row Label { padding: 0 1 0 0; }
    DataTab .row Input { height: 1; border: none; padding: 0 1; background: $boost; width: 1fr; }
    DataTab .row Input:focus { background: $primary 30%; }
    DataTab .row Input.short { width: 14; margin: 0 1 0 0; }
    DataTab .row Select { width: 1fr; height: 1; margin: 0 1 0 0; }
    DataTab .row Select > SelectCurrent { border: none; height: 1; padding: 0 1; }
    DataTab .row Checkbox { border: none; height: 1; padding: 0; background: transparent; }
    """
