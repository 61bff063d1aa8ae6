"""Reading a design's internal state through the simulator (cocotb + Verilator, whose
``--public-flat-rw`` makes every signal and memory of the generated Verilog visible): the
secret-clearing tests run the same operation with two different secrets and walk the hierarchy
after each: every register, memory word and wire that differs between the two still depends on
the secret."""

from fnmatch import fnmatchcase

from cocotb.handle import ArrayObject, HierarchyArrayObject, HierarchyObject, ValueObjectBase


def walk(handle, prefix: str = "") -> dict[str, int]:
    """Every named signal (and memory word, as ``name[i]``) under ``handle``: {dotted path:
    value}.  Yosys's ``$``-numbered wires (combinational temporaries) are left out.  Values
    that are not fully 0/1 (X/Z) read as -1, which no check accepts as zero."""
    out: dict[str, int] = {}
    for child in handle:
        own = child._name.lstrip("\\").strip()
        if own.startswith("$"):
            continue
        name = prefix + own
        if isinstance(child, (HierarchyObject, HierarchyArrayObject)):
            out.update(walk(child, name + "."))
        elif isinstance(child, ArrayObject):  # a memory: its words
            for i, w in enumerate(child):
                out[f"{name}[{i}]"] = _value(w)
        elif isinstance(child, ValueObjectBase):
            out[name] = _value(child)
    return out


def _value(h) -> int:
    v = h.value
    try:
        return int(v)
    except ValueError:
        return -1


def differing(a: dict[str, int], b: dict[str, int], skip=()) -> list[str]:
    """The paths whose values differ between two walks of the same design, except those that
    match one of the ``fnmatch`` patterns ``skip`` (e.g. a key store's memories)."""
    assert a.keys() == b.keys()
    return sorted(k for k in a
                  if a[k] != b[k] and not any(fnmatchcase(k, s) for s in skip))
