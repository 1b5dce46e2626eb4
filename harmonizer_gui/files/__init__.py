"""Images in and out: files, drops, the clipboard, recent files, and the export flow."""
