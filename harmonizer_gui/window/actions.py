"""Every command a person can give, as QActions with text, shortcut, icon and tip, and the menus.

The main window connects the actions to its handlers; menus, toolbars and keyboard share them.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from harmonizer_gui.services.editor_state import Tool
from harmonizer_gui.window.icons import icon

Keys = str | QKeySequence.StandardKey | list


class Actions(QObject):
    """The window's actions, as attributes. ``nudges`` holds the keyboard-only layer moves."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._window = window
        make = self._make
        # File
        self.open_background = make("Open &Background…", "Ctrl+O", tip="Open a photo as the background")
        self.open_foreground = make(
            "Open &Foreground…", "Ctrl+Shift+O", tip="Open an image or cut-out to paste on the background"
        )
        self.paste = make(
            "&Paste", QKeySequence.StandardKey.Paste, tip="Paste an image: the background first, then the foreground"
        )
        self.paste_background = make("Paste as Background", "Ctrl+Alt+V")
        self.paste_foreground = make("Paste as Foreground", "Ctrl+Shift+V")
        self.export_harmonized = make(
            "&Export Harmonized PNG…", "Ctrl+E", "export", "Export the harmonized picture at full resolution"
        )
        self.export_composite = make(
            "Export &Composite PNG…", "Ctrl+Shift+E", tip="Export the plain composite at full resolution"
        )
        self.export_mask = make("Export &Mask PNG…", "Ctrl+Alt+E", tip="Export the pasted foreground's mask at full resolution")
        self.quit = make("&Quit", QKeySequence.StandardKey.Quit)
        # Layer
        self.flip = make("&Flip Horizontally", "H")
        self.rotate_cw = make("Rotate &Clockwise", "R", tip="Rotate by 1 degree (drag the top handle for more)")
        self.rotate_ccw = make("Rotate C&ounter-clockwise", "Shift+R")
        self.scale_up = make("&Larger", ["+", "="])
        self.scale_down = make("&Smaller", ["-", "_"])
        self.centre_layer = make("C&entre on Background", "Ctrl+Shift+C")
        self.nudges: dict[tuple[int, int], QAction] = {}
        for name, (dx, dy) in {"Left": (-1, 0), "Right": (1, 0), "Up": (0, -1), "Down": (0, 1)}.items():
            for step, prefix in ((1, ""), (10, "Shift+")):
                action = make(f"Move {name} {step} px", f"{prefix}{name}")
                window.addAction(action)
                self.nudges[(dx * step, dy * step)] = action
        # Mask and tools
        self.tools = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, text, keys, tip in (
            (Tool.MOVE, "&Move", "V", "Move, scale and rotate the layer (V)"),
            (Tool.BRUSH, "&Brush", "B", "Paint the mask: add to the foreground (B)"),
            (Tool.ERASER, "&Eraser", "E", "Erase the mask: take away from the foreground (E)"),
            (Tool.MARK_FOREGROUND, "Mark &Foreground", "F", "Mark what belongs to the object; GrabCut refines (F)"),
            (Tool.MARK_BACKGROUND, "Mark Bac&kground", "G", "Mark what does not belong to the object; GrabCut refines (G)"),
        ):
            action = make(text, keys, tool.value, tip, checkable=True)
            self.tools.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[Tool.MOVE].setChecked(True)
        self.brush_smaller = make("Smaller Brush", "[")
        self.brush_bigger = make("Bigger Brush", "]")
        self.brush_softer = make("Softer Brush", "Shift+[")
        self.brush_harder = make("Harder Brush", "Shift+]")
        self.overlay = make("Show Mask &Overlay", "O", "overlay", "Show what the mask leaves out, in red (O)", checkable=True)
        self.feather = make("&Feather Edges", "Shift+F", tip="Soften the mask's edges by the feather radius")
        self.invert = make("&Invert Mask", "Ctrl+I")
        self.clear = make("&Clear Mask", "Ctrl+Shift+Backspace", tip="Nothing of the layer is pasted")
        self.fill = make("Fill &Whole Layer", "Ctrl+Shift+A", tip="All of the layer is pasted")
        self.reset_mask = make("&Reset to Alpha Channel", tip="The mask the layer started with")
        self.grabcut = make(
            "Find Object (&GrabCut)", "Ctrl+G", "grabcut", "Find the object automatically; refine with the marking brushes"
        )
        self.clear_marks = make("Clear GrabCut &Marks")
        # View
        self.fit = make("&Fit to Window", "Ctrl+0", "fit")
        self.actual_size = make("&Actual Pixels", "Ctrl+1")
        self.zoom_in = make("Zoom &In", QKeySequence.StandardKey.ZoomIn)
        self.zoom_out = make("Zoom &Out", QKeySequence.StandardKey.ZoomOut)
        self.compare = make(
            "Show &Original",
            "Space",
            "compare",
            "Toggle between the plain composite and the harmonized result (Space)",
            checkable=True,
        )
        self.split = make("&Split View", "Y", "split", "Original left of the divider, harmonized right of it (Y)", checkable=True)
        # Tools and help
        self.train = make("&Train Personal Model…", tip="Fine-tune a harmonization model on your own photos")
        self.shortcuts = make("&Keyboard Shortcuts", QKeySequence.StandardKey.HelpContents)
        self.about = make("&About Harmonizer")

    def _make(
        self, text: str, keys: Keys | None = None, icon_name: str | None = None, tip: str | None = None, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self._window)
        if keys is not None:
            sequences = keys if isinstance(keys, list) else [keys]
            action.setShortcuts([QKeySequence(k) for k in sequences])
        if icon_name:
            action.setIcon(icon(icon_name))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        return action


def build_menus(window: QMainWindow, actions: Actions, undo: QAction, redo: QAction) -> dict[str, QMenu]:
    """Create the menu bar; returns the menus by name (``recent`` and ``model`` are filled later)."""
    bar = window.menuBar()
    menus: dict[str, QMenu] = {}
    file_menu = menus["file"] = bar.addMenu("&File")
    file_menu.addActions([actions.open_background, actions.open_foreground])
    menus["recent"] = file_menu.addMenu("Open &Recent")
    file_menu.addSeparator()
    file_menu.addActions([actions.paste, actions.paste_background, actions.paste_foreground])
    file_menu.addSeparator()
    file_menu.addActions([actions.export_harmonized, actions.export_composite, actions.export_mask])
    file_menu.addSeparator()
    file_menu.addAction(actions.quit)
    edit_menu = menus["edit"] = bar.addMenu("&Edit")
    edit_menu.addActions([undo, redo])
    layer_menu = menus["layer"] = bar.addMenu("&Layer")
    layer_menu.addActions([actions.flip, actions.rotate_cw, actions.rotate_ccw, actions.scale_up, actions.scale_down])
    layer_menu.addSeparator()
    layer_menu.addAction(actions.centre_layer)
    mask_menu = menus["mask"] = bar.addMenu("&Mask")
    mask_menu.addActions(list(actions.tool_actions.values()))
    mask_menu.addSeparator()
    mask_menu.addActions([actions.brush_smaller, actions.brush_bigger, actions.brush_softer, actions.brush_harder])
    mask_menu.addSeparator()
    mask_menu.addActions([actions.overlay, actions.grabcut, actions.clear_marks])
    mask_menu.addSeparator()
    mask_menu.addActions([actions.feather, actions.invert, actions.clear, actions.fill, actions.reset_mask])
    view_menu = menus["view"] = bar.addMenu("&View")
    view_menu.addActions([actions.fit, actions.actual_size, actions.zoom_in, actions.zoom_out])
    view_menu.addSeparator()
    view_menu.addActions([actions.compare, actions.split])
    menus["model"] = bar.addMenu("M&odel")
    tools_menu = menus["tools"] = bar.addMenu("&Tools")
    tools_menu.addAction(actions.train)
    help_menu = menus["help"] = bar.addMenu("&Help")
    help_menu.addActions([actions.shortcuts, actions.about])
    return menus


def shortcuts_html(actions: Actions) -> str:
    """Every action with a keyboard shortcut, in two columns, for Help > Keyboard Shortcuts."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for action in actions.parent().findChildren(QAction):
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        text = action.iconText()  # the text without "&" and "…"; Undo and Redo keep their short names here
        if shortcut and text not in seen and " px" not in text:
            seen.add(text)
            rows.append((text, shortcut))
    rows += [("Move the layer", "Arrows, Shift+Arrows"), ("Zoom", "Wheel"), ("Pan", "Middle-drag")]
    half = (len(rows) + 1) // 2
    right_column = [*rows[half:], *[("", "")] * (2 * half - len(rows))]  # one blank cell when the count is odd
    cells = []
    for left, right in zip(rows[:half], right_column, strict=True):
        cells.append(
            "<tr>"
            + "".join(f"<td>{text}</td><td style='padding: 0 24px 0 12px'><b>{keys}</b></td>" for text, keys in (left, right))
            + "</tr>"
        )
    return "<table style='white-space: nowrap'>" + "".join(cells) + "</table>"
