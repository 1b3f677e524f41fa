"""consolidate: turn SQL migrations scattered over many folders into one canonical, proven tree."""

__version__ = "0.1.0"
