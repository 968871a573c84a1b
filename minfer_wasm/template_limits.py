"""Size limits for chat-template values, checked before a value is made.

A render's time and memory are bounded per call, not only between template steps: every
operation that can allocate by an argument (`'a'.center(2e9)`, `'%*d' % (2e9, 1)`,
`tojson(indent=1e9)`, `[x] * n`, `join`, `replace`...) first estimates the size of its result
from its arguments, and refuses when that is over MAX_CHARS characters (or MAX_ITEMS items), or
over what is left of the render's allocation allowance. What every operation did make is then
charged (sys.getsizeof) to that allowance, MAX_ALLOC_BYTES per render: what a render holds is
what was charged, plus the interpreter's own few objects per step. Operations whose work per
item is large (sorting with key calls, wrapping, urlize, regex filters) get a smaller input cap.

The estimates are upper bounds: `text_size` walks a value as str()/repr()/json.dumps would print
it (each nested string counted at its worst-case escaping) and stops as soon as the bound is
passed, so measuring never costs more than the thing it guards.
"""

import re
import sys
import time
from collections.abc import Mapping

from jinja2.utils import Namespace

MAX_STEPS = 100_000            # loop iterations and calls per render
MAX_DEPTH = 64                 # nested calls: well inside Python's recursion limit on every host
MAX_SECONDS = 1.0              # per render
MAX_CHARS = 2 << 20            # characters in one value, and in the rendered text
MAX_ITEMS = 1 << 18            # items in one list, dict or tuple
MAX_TEXT_CHARS = 1 << 16       # input of wordwrap, urlize, striptags, title... (slow per character)
MAX_SORT_ITEMS = 1 << 16       # input of sort / dictsort / groupby / unique (key calls per item)
MAX_ALLOC_BYTES = 48 << 20     # bytes every value made by one render may add up to
MAX_INT_BITS = 1 << 16
MAX_NESTING = 64               # nested lists/dicts walked when measuring a value
MAX_SOURCE_CHARS = 64 << 10    # the template's own text (compiling 64 KiB takes ~1-4 s)
MAX_BLOCK_NESTING = 32         # nested {% %} statements (real templates: under 10)

_NUMBER_CHARS = 440            # widest float in full (1e308: 309 digits, grouped by 3, sign, point)
_OTHER_CHARS = 256             # str() of an object that is not data (a macro, a cycler...)


class OverBudget(Exception):
    """A render ran past its budget (internal; chat_template turns it into TemplateError)."""


class Budget:
    """One render's allowance: steps, call depth, a deadline and bytes allocated."""

    def __init__(self):
        self.steps = 0
        self.depth = 0
        self.bytes = 0
        self.deadline = time.perf_counter() + MAX_SECONDS

    def tick(self):
        """One loop iteration or call."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise OverBudget(f"more than {MAX_STEPS} loop iterations and calls "
                             "(does it loop forever?)")
        self.check_time()

    def check_time(self):
        if time.perf_counter() > self.deadline:
            raise OverBudget(f"rendering took longer than {MAX_SECONDS} s")

    def need(self, what: str, chars: int, limit: int = MAX_CHARS, unit: str = "characters",
             verb: str = "would make"):
        """Refuse, before making it, a result of `chars` characters (or items)."""
        self.check_time()
        if chars > limit:
            raise OverBudget(f"{what} {verb} {_count(chars)} {unit} (the limit is {limit})")
        if self.bytes + chars > MAX_ALLOC_BYTES:
            raise OverBudget(f"{what} would take the render past {MAX_ALLOC_BYTES >> 20} MiB "
                             "of memory")

    def charge(self, value):
        """Count a value just made (its own bytes; what it refers to was charged when made)."""
        if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
            self.bytes += sys.getsizeof(value)
            if self.bytes > MAX_ALLOC_BYTES:
                raise OverBudget(f"the render made more than {MAX_ALLOC_BYTES >> 20} MiB of values")
        return value


def _count(n) -> str:
    return f"{n:.3g}" if isinstance(n, float) else str(n) if n < 10**15 else f"{float(n):.3g}"


# ---- how long a value is as text ---------------------------------------------------------------

def text_size(value, budget: Budget, *, nested: bool = False, indent: int = 0,
              limit: int = MAX_CHARS, what: str = "a value") -> int:
    """An upper bound of len(str(value)) (nested: of repr(value) or json.dumps(value), with
    `indent` characters per nesting level); OverBudget as soon as it passes `limit`."""
    total = 0
    visits = 0
    stack = [(iter(((value, nested),)), 0)]      # (children not yet measured, their level)
    while stack:
        children, level = stack[-1]
        entry = next(children, None)
        if entry is None:
            stack.pop()
            continue
        item, quoted = entry
        visits += 1
        if visits & 4095 == 0:
            budget.check_time()
        if isinstance(item, str):
            # worst-case escaping: \u0000 in JSON, \U0001xxxx in repr
            total += len(item) if not quoted else (6 if item.isascii() else 10) * len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, (list, tuple, set, frozenset, Mapping, Namespace)) or \
                type(item).__name__ in ("dict_keys", "dict_values", "dict_items"):
            if level >= MAX_NESTING:
                raise OverBudget(f"a value is nested deeper than {MAX_NESTING} levels")
            if isinstance(item, Namespace):
                item = item._Namespace__attrs       # <Namespace {...}>
                total += 12
            total += 16 + len(item) * (4 + indent * (level + 1))
            members = (m for pair in item.items() for m in pair) if isinstance(item, Mapping) \
                else item
            stack.append((((m, True) for m in members), level + 1))
        else:
            total += _OTHER_CHARS
        if total > limit:
            raise OverBudget(f"{what} would make more than {limit} characters")
    return total


def texts_size(items, budget: Budget, *, nested: bool = False, what: str) -> int:
    """The sum of text_size over `items`, stopping as soon as it passes MAX_CHARS."""
    total = 0
    for item in items:
        total += text_size(item, budget, nested=nested, what=what)
        if total > MAX_CHARS:
            raise OverBudget(f"{what} would make more than {MAX_CHARS} characters")
    return total


def items_of(value, budget: Budget, what: str, limit: int = MAX_ITEMS):
    """`value` as a list or str of at most `limit` items, drawing a generator under the budget."""
    if isinstance(value, (str, list, tuple, range, set, frozenset, Mapping)):
        budget.need(what, len(value), limit, "items", "was given")
        return value
    items = []
    for item in value:
        if len(items) >= limit:
            raise OverBudget(f"{what} was given more than {limit} items")
        if len(items) & 1023 == 0:
            budget.check_time()
        items.append(item)
    return budget.charge(items)


def int_arg(value) -> int:
    """A width or count argument as Python would take it (2e9 counts as 2000000000 here, so
    that the size check sees it; Python itself would refuse a float)."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return int(value)
    if isinstance(value, int):
        return value
    return 0


# ---- printf-style `%` and str.format ------------------------------------------------------------

# %[(key)][flags][width][.precision][length]type, as in Python's printf-style formatting
_PRINTF = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?"
                     r"(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<type>.?)")


def printf_size(fmt: str, args, budget: Budget) -> int:
    """An upper bound of len(fmt % args), checking every width and precision first."""
    positional = list(args) if isinstance(args, tuple) else [args]
    total = len(fmt)
    for match in _PRINTF.finditer(fmt):
        sizes = []
        for part in ("width", "prec"):
            spec = match[part]
            if spec == "*":
                spec = positional.pop(0) if positional else 0
            sizes.append(abs(int_arg(int(spec) if isinstance(spec, str) else spec)))
        width, precision = sizes
        if max(width, precision) > MAX_CHARS:
            budget.need("a % format width", max(width, precision))
        kind = match["type"]
        if kind == "%" or not kind:
            continue
        if match["key"] is not None:
            value = args.get(match["key"]) if isinstance(args, Mapping) else None
        else:
            value = positional.pop(0) if positional else None
        if kind in "sra":
            size = text_size(value, budget, nested=kind != "s")
        else:
            size = _NUMBER_CHARS + precision + _int_chars(value)
        total += max(width, size)
    return total


_DIGITS = re.compile(r"\d+")


def format_spec_size(value, spec: str, budget: Budget) -> int:
    """An upper bound of len(format(value, spec)): the value, a number's widest form, and
    every number written in the spec (its width and precision among them)."""
    numbers = sum(int(d) for d in _DIGITS.findall(spec)) if len(spec) < 64 else MAX_CHARS + 1
    if numbers > MAX_CHARS:
        budget.need("a format width", numbers)
    own = _int_chars(value) if isinstance(value, int) else text_size(value, budget)
    return own + _NUMBER_CHARS + numbers


def _int_chars(value) -> int:
    """The widest an integer prints: in binary, grouped by 4 (`{:_b}`)."""
    return value.bit_length() * 5 // 4 + 4 if isinstance(value, int) else 0
