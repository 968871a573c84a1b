"""Capped filters and string methods for chat templates.

Each check below runs before the filter or method it guards and raises OverBudget when the
result would be too large (template_limits.Budget.need); it returns the arguments to go on with
(an iterator drawn into a list, so that it is measured once and consumed once). The guarded
filter or method then runs unchanged: a template renders exactly as with jinja2's own filters.

Sizes follow the functions they guard: jinja2/filters.py (do_center, do_indent, do_wordwrap,
do_urlize, do_join, do_batch, do_slice...) and Python's str methods.
"""

from functools import wraps

from .template_limits import (MAX_CHARS, MAX_INT_BITS, MAX_ITEMS, MAX_SORT_ITEMS,
                              MAX_TEXT_CHARS, Budget, OverBudget, int_arg, items_of, printf_size,
                              text_size, texts_size)

# ---- filters -----------------------------------------------------------------------------------


def _as_text(budget: Budget, value) -> str:
    """str(value), measured before it is made."""
    if isinstance(value, str):
        return value
    text_size(value, budget)
    return budget.charge(str(value))


def _center(budget, value, width=80):
    text = _as_text(budget, value)
    budget.need("center", max(len(text), int_arg(width)))
    return (text, width), {}


def _indent(budget, value, width=4, first=False, blank=False):
    text = _as_text(budget, value)
    step = len(width) if isinstance(width, str) else int_arg(width)
    budget.need("indent", len(text) + (text.count("\n") + 1) * max(step, 0))
    return (text, width, first, blank), {}


def _replace(budget, value, old, new, count=None):
    text = _as_text(budget, value)
    budget.need("replace", replace_size(text, _as_text(budget, old), _as_text(budget, new), count))
    return (text, old, new, count), {}


def _format(budget, value, *args, **kwargs):
    budget.need("format", printf_size(_as_text(budget, value), kwargs or args, budget))
    return (value, *args), kwargs


def _wordwrap(budget, value, width=79, break_long_words=True, wrapstring=None,
              break_on_hyphens=True):
    text = _as_text(budget, value)
    budget.need("wordwrap", len(text), MAX_TEXT_CHARS, verb="was given")
    wrap = "\n" if wrapstring is None else _as_text(budget, wrapstring)
    budget.need("wordwrap", len(text) + (len(text) + 1) * len(wrap))
    return (text, width, break_long_words, wrapstring, break_on_hyphens), {}


def _urlize(budget, value, *args, **kwargs):
    text = _as_text(budget, value)
    budget.need("urlize", len(text), MAX_TEXT_CHARS, verb="was given")
    extra = texts_size((*args, *kwargs.values()), budget, what="urlize")
    # every character escaped (&amp;) and at most one link per 5 characters, each with the
    # url twice and the attributes
    budget.need("urlize", 10 * len(text) + (len(text) // 5 + 1) * (80 + extra))
    return (text, *args), kwargs


def _tojson(budget, value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    step = len(indent) if isinstance(indent, str) else int_arg(indent)
    gaps = text_size(separators, budget) if separators is not None else 2
    budget.need("tojson", text_size(value, budget, nested=True, indent=max(step, 0) + gaps + 1,
                                    what="tojson"))
    return (value,), dict(ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)


def _join(budget, value, d="", attribute=None):
    items = items_of(value, budget, "join")
    size = texts_size(items, budget, nested=attribute is not None, what="join")
    budget.need("join", size + max(len(items) - 1, 0) * text_size(d, budget))
    return (items, d, attribute), {}


def _sequence(what: str, limit: int = MAX_ITEMS):
    def check(budget, value, *args, **kwargs):
        return (items_of(value, budget, what, limit), *args), kwargs
    return check


def _batch(budget, value, linecount, fill_with=None):
    items = items_of(value, budget, "batch")
    per = max(int_arg(linecount), 1)
    filled = -(-len(items) // per) * per if fill_with is not None else len(items)
    budget.need("batch", filled, MAX_ITEMS, "items")
    return (items, linecount, fill_with), {}


def _slice(budget, value, slices, fill_with=None):
    items = items_of(value, budget, "slice")
    budget.need("slice", len(items) + max(int_arg(slices), 0), MAX_ITEMS, "items")
    return (items, slices, fill_with), {}


def _sum(budget, iterable, attribute=None, start=0):
    if not isinstance(start, (int, float)):
        raise OverBudget("sum adds numbers only (a list or string start would copy at each step)")
    return (items_of(iterable, budget, "sum"), attribute, start), {}


def _truncate(budget, value, length=255, killwords=False, end="...", leeway=None):
    text = _as_text(budget, value)
    budget.need("truncate", len(text) + text_size(end, budget))
    return (text, length, killwords, end, leeway), {}


def _grows(what: str, factor: int, slow: bool = False, **walk):
    """A filter whose text is at most `factor` times its input's (escape: `"` -> `&#34;`);
    a slow one (a regex or Python code per character) takes at most MAX_TEXT_CHARS."""
    def check(budget, value, *args, **kwargs):
        limit = MAX_TEXT_CHARS if slow else MAX_CHARS // factor
        budget.need(what, factor * text_size(value, budget, limit=limit, what=what, **walk))
        return (value, *args), kwargs
    return check


FILTER_CHECKS = {
    "center": _center, "indent": _indent, "replace": _replace, "format": _format,
    "wordwrap": _wordwrap, "urlize": _urlize, "tojson": _tojson, "join": _join,
    "batch": _batch, "slice": _slice, "sum": _sum, "truncate": _truncate,
    "sort": _sequence("sort", MAX_SORT_ITEMS), "unique": _sequence("unique", MAX_SORT_ITEMS),
    "groupby": _sequence("groupby", MAX_SORT_ITEMS),
    "dictsort": _sequence("dictsort", MAX_SORT_ITEMS),
    "list": _sequence("list"), "reverse": _sequence("reverse"),
    "min": _sequence("min"), "max": _sequence("max"),
    "string": _grows("string", 1), "safe": _grows("safe", 1), "trim": _grows("trim", 1),
    "upper": _grows("upper", 3), "lower": _grows("lower", 3),
    "capitalize": _grows("capitalize", 3), "escape": _grows("escape", 6),
    "e": _grows("e", 6), "forceescape": _grows("forceescape", 6),
    # per character: a regex (striptags ~10 ns, title ~15 ns), or Python code
    "striptags": _grows("striptags", 1, slow=True), "wordcount": _grows("wordcount", 1, slow=True),
    "title": _grows("title", 3, slow=True), "pprint": _grows("pprint", 1, slow=True, indent=2),
    "xmlattr": _grows("xmlattr", 6, slow=True), "urlencode": _grows("urlencode", 12, slow=True),
}


def capped_filter(name: str, function, budget_of):
    """`function` (a jinja2 filter) with its size check in front, the deadline checked and the
    result charged; budget_of() is the current render's Budget."""
    check = FILTER_CHECKS.get(name)
    pass_arg = getattr(function, "jinja_pass_arg", None)

    @wraps(function)
    def run(*args, **kwargs):
        budget = budget_of()
        budget.check_time()
        lead, args = (args[:1], args[1:]) if pass_arg is not None else ((), args)
        if check is not None and args:
            args, kwargs = check(budget, *args, **kwargs)
        return budget.charge(function(*lead, *args, **kwargs))

    return run


# ---- str methods -------------------------------------------------------------------------------

def replace_size(text: str, old: str, new: str, count=None) -> int:
    """len(text.replace(old, new, count)), computed without making it."""
    hits = text.count(old) if old else len(text) + 1
    count = int_arg(count) if count is not None else -1
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _padded(what):
    def check(budget, text, width, *args):
        budget.need(what, max(len(text), int_arg(width)))
    return check


def _expandtabs(budget, text, tabsize=8):
    budget.need("expandtabs", len(text) + text.count("\t") * max(int_arg(tabsize), 0))


def _str_replace(budget, text, old, new, count=-1):
    if isinstance(old, str) and isinstance(new, str):
        budget.need("replace", replace_size(text, old, new, count))


def _split(what):
    def check(budget, text, sep=None, maxsplit=-1):
        parts = text.count(sep) + 1 if isinstance(sep, str) and sep else len(text) // 2 + 1
        if isinstance(maxsplit, int) and maxsplit >= 0:
            parts = min(parts, maxsplit + 1)
        budget.need(what, parts, MAX_ITEMS, "items")
    return check


def _splitlines(budget, text, keepends=False):
    breaks = sum(text.count(c) for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
    budget.need("splitlines", breaks + 1, MAX_ITEMS, "items")


def _case(what):
    def check(budget, text, *args):
        budget.need(what, 3 * len(text))      # 'ß'.upper() == 'SS'; at most 3 per character
    return check


METHOD_CHECKS = {
    "center": _padded("center"), "ljust": _padded("ljust"), "rjust": _padded("rjust"),
    "zfill": _padded("zfill"), "expandtabs": _expandtabs, "replace": _str_replace,
    "split": _split("split"), "rsplit": _split("rsplit"), "splitlines": _splitlines,
    "upper": _case("upper"), "lower": _case("lower"), "title": _case("title"),
    "capitalize": _case("capitalize"), "swapcase": _case("swapcase"),
    "casefold": _case("casefold"),
}
# Methods whose result size no check here bounds, and that no chat template needs.
REFUSED_METHODS = frozenset({"translate", "maketrans", "encode", "to_bytes"})


def check_method(budget: Budget, method, args: tuple, kwargs: dict) -> tuple:
    """Check a call of a str method (`'a'.center(9)`) before it runs; returns its arguments
    (str.join's iterable drawn into a list)."""
    name = getattr(method, "__name__", "")
    owner = getattr(method, "__self__", None)
    if name in REFUSED_METHODS and owner is not None:
        raise OverBudget(f"the method {name}() is not allowed in chat templates")
    if not isinstance(owner, str):
        return args
    if name == "join" and len(args) == 1:
        items = items_of(args[0], budget, "join")
        budget.need("join", texts_size(items, budget, what="join")
                    + max(len(items) - 1, 0) * len(owner))
        return (items,)
    check = METHOD_CHECKS.get(name)
    if check is not None:       # wrong arguments raise TypeError here, as the method would
        check(budget, owner, *args, **kwargs)
    return args


def binop_size(operator: str, left, right, budget: Budget) -> None:
    """Refuse `+ * %` on strings and lists, and `* **` on integers, whose result is too large."""
    sequences = (str, list, tuple)
    if isinstance(left, int) and isinstance(right, int):
        if operator == "**":
            too_big = right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS
        else:
            too_big = operator == "*" and left.bit_length() + right.bit_length() > MAX_INT_BITS
        if too_big:
            raise OverBudget(f"`{operator}` would make a number of more than {MAX_INT_BITS} bits")
    elif operator == "+" and isinstance(left, str) and isinstance(right, str):
        budget.need("`+`", len(left) + len(right))
    elif operator == "+" and isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        budget.need("`+`", len(left) + len(right), MAX_ITEMS, "items")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, sequences):
            left, right = right, left
        if isinstance(left, sequences) and isinstance(right, int) and not isinstance(right, bool):
            limit = MAX_CHARS if isinstance(left, str) else MAX_ITEMS
            budget.need("`*`", len(left) * max(right, 0), limit,
                        "characters" if isinstance(left, str) else "items")
    elif operator == "%" and isinstance(left, str):
        escaped = 6 if hasattr(left, "__html__") else 1     # Markup % escapes its arguments
        budget.need("`%`", escaped * printf_size(left, right, budget))
