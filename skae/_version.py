"""The version of skae, importable by every module without importing the package."""

__version__ = "0.1.0"
