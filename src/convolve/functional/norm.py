"""(filled in by the norm work)"""

__all__: list[str] = []
