"""(filled in by the activation layers work)"""

__all__: list[str] = []
