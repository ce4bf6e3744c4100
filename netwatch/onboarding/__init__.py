"""Onboarding a province: its device spreadsheet in, a netwatch configuration out, and back.

``netwatch import FILE`` reads a CSV or XLSX list of devices (one row per device, its place in
the site tree as columns) and writes a configuration that ``netwatch check-config`` accepts;
``netwatch export --format csv`` writes the same columns back from a configuration, so that
import -> export -> import gives the same configuration.

The work is split in small steps, each a module:

- ``text``: ids made from Vietnamese names, header and value normalisation;
- ``table``: a file read into rows of text cells (encodings, delimiters, XLSX);
- ``columns``: which column is which field (Vietnamese or English headers, ``--map``);
- ``rows``: the rows checked and turned into a site tree, every problem with its row number;
- ``render``: the tree written as YAML (one file, or one per district);
- ``export``: a loaded configuration written back as rows;
- ``discover``: ``netwatch discover``'s sweep, what answers a ping and what SNMP says of it;
- ``proposal``: what a sweep found as a site tree to write, and set against the configuration;
- ``options``: the three commands' command-line options, which the CLI parses.
"""

from .export import export_csv
from .render import render_files
from .rows import ImportResult, import_table
from .table import read_table

__all__ = ["ImportResult", "export_csv", "import_table", "read_table", "render_files"]
