"""App-wide services every concern uses: remembered settings (QSettings) and the status bar's fields."""
