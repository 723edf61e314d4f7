"""(filled in by the loss layers work)"""

__all__: list[str] = []
