"""Work off the UI thread: the harmonization worker (models, previews, exports) and short tasks."""
