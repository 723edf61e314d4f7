"""(filled in by the conv layers work)"""

__all__: list[str] = []
