"""Developer tools (code generation); not part of the deployed package."""
