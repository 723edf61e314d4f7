"""A pickle-opcode interpreter that executes no code, for reading PyTorch checkpoints.

It understands the opcodes ``torch.save`` writes for state dicts (protocols 2 to 5: numbers,
strings, bytes, tuples, lists, dicts, sets, the memo, GLOBAL, REDUCE, BUILD and persistent ids)
and nothing else. It never imports a module or calls a function named by the file:
``find_class(module, name)`` (given by the caller) maps a global to one of the caller's
own stand-ins or raises, and REDUCE calls only stand-ins of type :class:`Allowed`.
"""

from __future__ import annotations

import struct

__all__ = ["Allowed", "UnsafeFileError", "unpickle"]

_MAX_LINE = 512      # GLOBAL module/name lines
_MAX_LONG_BYTES = 64  # LONG1/LONG4 payloads (state dicts hold small ints)


class UnsafeFileError(ValueError):
    """A file that the code-free reader cannot or will not read (corrupt, or asks for code)."""


class Allowed:
    """A callable the file may invoke through REDUCE: one of the reader's own functions."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn):
        self.name, self.fn = name, fn

    def __repr__(self) -> str:
        return f"<allowed {self.name}>"


class _Mark:
    """The MARK sentinel on the stack."""


_MARK = _Mark()


class _Machine:
    """The stack machine; ``run()`` returns (object, end offset)."""

    def __init__(self, data: bytes, pos: int, where: str, find_class, persistent_load, build):
        self.data, self.pos, self.where = memoryview(data), pos, where
        self.find_class, self.persistent_load, self.build = find_class, persistent_load, build
        self.stack: list = []
        self.memo: dict = {}

    # ------------------------------------------------------------------ reading
    def fail(self, what: str):
        raise UnsafeFileError(f"{self.where}: {what} (pickle byte {self.pos})")

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"truncated pickle: needs {n} more bytes, {len(self.data) - self.pos} left")
        out = self.data[self.pos:self.pos + n].tobytes()
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.read(n), "little")

    def line(self) -> str:
        end = bytes(self.data[self.pos:self.pos + _MAX_LINE]).find(b"\n")
        if end < 0:
            self.fail("unterminated or over-long GLOBAL line")
        try:
            return self.read(end + 1)[:-1].decode("utf-8", "strict")
        except UnicodeDecodeError:
            return self.fail("corrupt pickle: a GLOBAL line that is not UTF-8")

    def pop(self):
        if not self.stack or self.stack[-1] is _MARK:
            self.fail("corrupt pickle: stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1:]
                del self.stack[i:]
                return items
        return self.fail("corrupt pickle: MARK missing")

    def top(self, kind, what: str):
        if not self.stack or not isinstance(self.stack[-1], kind):
            self.fail(f"corrupt pickle: {what} needs a {kind.__name__} on the stack")
        return self.stack[-1]

    # ------------------------------------------------------------------ running
    def run(self):
        while True:
            if self.pos >= len(self.data):
                self.fail("truncated pickle: no STOP opcode")
            code = self.data[self.pos]
            self.pos += 1
            handler = _DISPATCH.get(code)
            if handler is None:
                self.pos -= 1
                self.fail(f"unsupported pickle opcode {bytes([code])!r}; this reader knows only "
                          f"the opcodes of PyTorch state dicts")
            if handler(self) is _STOP:
                if len(self.stack) != 1:
                    self.fail("corrupt pickle: STOP with a stack that is not one object")
                return self.stack[0], self.pos

    def text(self, n: int) -> str:
        try:
            return self.read(n).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return self.fail("corrupt pickle: a string that is not UTF-8")

    def long(self, n: int) -> int:
        if n > _MAX_LONG_BYTES:
            self.fail(f"integer of {n} bytes is over the limit of {_MAX_LONG_BYTES}")
        return int.from_bytes(self.read(n), "little", signed=True)

    def get(self, key: int):
        if key not in self.memo:
            self.fail(f"corrupt pickle: memo entry {key} is missing")
        self.stack.append(self.memo[key])

    def put(self, key: int):
        if not self.stack or self.stack[-1] is _MARK:
            self.fail("corrupt pickle: PUT with an empty stack")
        self.memo[key] = self.stack[-1]

    def set_items(self, items: list):
        target = self.top(dict, "SETITEM(S)")
        if len(items) % 2:
            self.fail("corrupt pickle: SETITEMS with an odd number of items")
        try:
            for i in range(0, len(items), 2):
                target[items[i]] = items[i + 1]
        except TypeError:
            self.fail(f"corrupt pickle: unhashable dict key of type {type(items[i]).__name__}")

    def global_(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            self.fail("corrupt pickle: STACK_GLOBAL needs two strings")
        self.stack.append(self.find_class(module, name))

    def reduce(self):
        args, fn = self.pop(), self.pop()
        if not isinstance(fn, Allowed):
            self.fail(f"REDUCE of {type(fn).__name__}, which is not an allowed callable")
        if not isinstance(args, tuple):
            self.fail(f"corrupt pickle: REDUCE arguments for {fn.name} are not a tuple")
        try:
            self.stack.append(fn.fn(*args))
        except UnsafeFileError:
            raise
        except (TypeError, ValueError) as err:  # wrong arguments from a damaged file
            self.fail(f"corrupt pickle: bad arguments for {fn.name} ({err})")


_STOP = object()


def _tuple(n):
    def op(m):
        items = [m.pop() for _ in range(n)][::-1]
        m.stack.append(tuple(items))
    return op


def _append(m):
    value = m.pop()
    m.top(list, "APPEND").append(value)


def _appends(m):
    items = m.pop_mark()
    m.top(list, "APPENDS").extend(items)


def _additems(m):
    items = m.pop_mark()
    try:
        m.top(set, "ADDITEMS").update(items)
    except TypeError:
        m.fail("corrupt pickle: unhashable set item")


def _dict(m):
    items = m.pop_mark()
    m.stack.append({})
    m.set_items(items)


def _build(m):
    state, obj = m.pop(), m.pop()
    m.stack.append(m.build(obj, state))


def _persid(m, pid):
    m.stack.append(m.persistent_load(pid))


_DISPATCH = {
    0x80: lambda m: m.read(1),                    # PROTO
    0x95: lambda m: m.read(8),                    # FRAME
    ord("."): lambda m: _STOP,                    # STOP
    ord("("): lambda m: m.stack.append(_MARK),    # MARK
    ord("0"): lambda m: m.pop(),                  # POP
    ord("1"): lambda m: m.pop_mark(),             # POP_MARK
    ord("2"): lambda m: m.stack.append(m.top(object, "DUP")),  # DUP
    ord("N"): lambda m: m.stack.append(None),
    0x88: lambda m: m.stack.append(True),
    0x89: lambda m: m.stack.append(False),
    ord("J"): lambda m: m.stack.append(struct.unpack("<i", m.read(4))[0]),
    ord("K"): lambda m: m.stack.append(m.uint(1)),
    ord("M"): lambda m: m.stack.append(m.uint(2)),
    0x8A: lambda m: m.stack.append(m.long(m.uint(1))),           # LONG1
    0x8B: lambda m: m.stack.append(m.long(m.uint(4))),           # LONG4
    ord("G"): lambda m: m.stack.append(struct.unpack(">d", m.read(8))[0]),
    ord("X"): lambda m: m.stack.append(m.text(m.uint(4))),       # BINUNICODE
    0x8C: lambda m: m.stack.append(m.text(m.uint(1))),           # SHORT_BINUNICODE
    0x8D: lambda m: m.stack.append(m.text(m.uint(8))),           # BINUNICODE8
    ord("B"): lambda m: m.stack.append(m.read(m.uint(4))),       # BINBYTES
    ord("C"): lambda m: m.stack.append(m.read(m.uint(1))),       # SHORT_BINBYTES
    0x8E: lambda m: m.stack.append(m.read(m.uint(8))),           # BINBYTES8
    ord(")"): lambda m: m.stack.append(()),
    ord("t"): lambda m: m.stack.append(tuple(m.pop_mark())),
    0x85: _tuple(1), 0x86: _tuple(2), 0x87: _tuple(3),
    ord("]"): lambda m: m.stack.append([]),
    ord("l"): lambda m: m.stack.append(m.pop_mark()),            # LIST
    ord("a"): _append,
    ord("e"): _appends,
    ord("}"): lambda m: m.stack.append({}),
    0x8F: lambda m: m.stack.append(set()),                       # EMPTY_SET
    0x90: _additems,                                             # ADDITEMS
    ord("d"): _dict,
    ord("s"): lambda m: m.set_items([m.pop(), m.pop()][::-1]),   # SETITEM
    ord("u"): lambda m: m.set_items(m.pop_mark()),               # SETITEMS
    ord("q"): lambda m: m.put(m.uint(1)),                        # BINPUT
    ord("r"): lambda m: m.put(m.uint(4)),                        # LONG_BINPUT
    0x94: lambda m: m.put(len(m.memo)),                          # MEMOIZE
    ord("h"): lambda m: m.get(m.uint(1)),                        # BINGET
    ord("j"): lambda m: m.get(m.uint(4)),                        # LONG_BINGET
    ord("c"): lambda m: m.global_(m.line(), m.line()),           # GLOBAL
    0x93: lambda m: m.global_(*[m.pop(), m.pop()][::-1]),        # STACK_GLOBAL
    ord("R"): lambda m: m.reduce(),
    ord("b"): _build,
    ord("Q"): lambda m: _persid(m, m.pop()),                     # BINPERSID
}


def unpickle(data: bytes, pos: int = 0, *, where: str, find_class, persistent_load=None,
             build=None):
    """Interpret the pickle starting at ``data[pos]``; return (object, offset after STOP).

    ``find_class(module, name)`` returns the stand-in for a global or raises;
    ``persistent_load(pid)`` resolves BINPERSID; ``build(obj, state)`` handles BUILD. All
    errors are :class:`UnsafeFileError` one-liners that start with ``where``.
    """
    def refuse(*_):
        raise UnsafeFileError(f"{where}: unexpected persistent id or BUILD in this pickle")

    machine = _Machine(data, pos, where, find_class, persistent_load or refuse, build or refuse)
    return machine.run()
