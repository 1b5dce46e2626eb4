"""What every concern uses: the editing state (tool, brush, overlay, compare), remembered settings
(QSettings) and the status bar's fields.
"""
