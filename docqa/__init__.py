"""docqa: answers about long PDF documents, with page citations that are checked."""

__version__ = "0.1.0"
