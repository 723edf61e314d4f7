"""(filled in by the pool layers work)"""

__all__: list[str] = []
