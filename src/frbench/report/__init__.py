"""Run outputs: CSV and Markdown tables, the manifest and plots, all written atomically."""
