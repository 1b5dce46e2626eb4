"""The desktop app (PySide6). Talks to the engine directly and to training only through its command line."""
