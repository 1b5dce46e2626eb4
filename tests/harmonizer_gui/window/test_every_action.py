"""Every menu entry and every keyboard shortcut, on a loaded document, without a single exception.

Dialogs are answered by the ``dialogs`` fixture (message boxes) and by the patches here (file
choosers return nothing); the training dialog is closed again after it opens. pytest-qt fails a
test on any exception raised in a slot; the log is checked for errors as well.
"""

from __future__ import annotations

import logging

import pytest
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu
from shiboken6 import isValid

from harmonizer_gui.window.actions import shortcuts_html
from harmonizer_gui.window.main_window import MainWindow


@pytest.fixture
def no_file_choosers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))


def menu_actions(menu: QMenu) -> list[QAction]:
    """The menu's entries, submenus' entries included, in menu order."""
    found = []
    for action in menu.actions():
        if action.menu() is not None:
            found += menu_actions(action.menu())
        elif not action.isSeparator():
            found.append(action)
    return found


def all_actions(win: MainWindow) -> list[QAction]:
    """Every action of every menu, then the keyboard-only ones; Quit last."""
    actions: list[QAction] = []
    for top in win.menuBar().actions():
        actions += menu_actions(top.menu())
    actions += [action for action in QMainWindow.actions(win) if action not in actions]
    return sorted(actions, key=lambda action: action is win.actions.quit)


def settle(qtbot, win: MainWindow) -> None:  # noqa: ANN001
    """Let queued work land, and close the training dialog if an action opened it."""
    qtbot.wait(5)
    if win.training_dialog is not None and win.training_dialog.isVisible():
        win.training_dialog.close()


def assert_no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert not errors, [record.getMessage() for record in errors]


def test_every_menu_action_runs_on_a_loaded_document(driver, no_file_choosers, caplog) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    triggered = []
    for action in all_actions(win):
        if isValid(action) and action.isEnabled():  # Open Recent's entries are rebuilt as files open
            action.trigger()
            triggered.append(action.text())
            settle(driver.qtbot, win)
    assert len(triggered) > 40 and "&Keyboard Shortcuts" in triggered
    assert_no_errors_logged(caplog)


def test_every_shortcut_reaches_its_action(driver, no_file_choosers, caplog) -> None:  # noqa: ANN001
    driver.load_both()
    win = driver.win
    win.activateWindow()
    missed = []
    for action in all_actions(win):
        for sequence in action.shortcuts():
            if sequence.isEmpty() or not action.isEnabled():
                continue
            fired = []

            def record(*_checked: bool, fired: list = fired) -> None:
                fired.append(True)

            action.triggered.connect(record)
            combination = sequence[0]
            driver.key(combination.key(), combination.keyboardModifiers())
            action.triggered.disconnect(record)
            settle(driver.qtbot, win)
            win.canvas.setFocus()
            if not fired:
                missed.append(f"{action.text()}: {sequence.toString(QKeySequence.SequenceFormat.PortableText)}")
    assert not missed
    assert_no_errors_logged(caplog)


def test_the_shortcut_list_shows_every_shortcut_for_an_odd_and_an_even_count(window) -> None:  # noqa: ANN001
    for extra in ("Ctrl+F11", "Ctrl+F12"):  # one of the two counts is odd, the other even
        action = QAction(f"Extra {extra}", window)
        action.setShortcut(QKeySequence(extra))
        html = shortcuts_html(window.actions)
        assert f"<td>Extra {extra}</td>" in html


def test_the_shortcut_list_names_undo_and_redo_plainly(driver) -> None:  # noqa: ANN001
    driver.load_both()  # the undo action's menu text is now "Undo Set Foreground"
    html = shortcuts_html(driver.win.actions)
    assert "<td>Undo</td>" in html and "<td>Redo</td>" in html and "Set Foreground" not in html
