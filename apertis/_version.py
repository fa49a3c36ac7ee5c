"""The SDK version, read by the build and sent in the User-Agent."""

__version__ = "1.0.0"
