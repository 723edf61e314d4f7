"""(filled in by the pool work)"""

__all__: list[str] = []
