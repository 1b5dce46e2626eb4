"""The application and its main window: actions and menus, toolbars, the model menu, icons."""
