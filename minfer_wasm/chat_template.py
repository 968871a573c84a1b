"""Chat templates: the GGUF's Jinja `tokenizer.chat_template`, rendered as transformers does,
in a sandbox that also bounds how much work a template may do.

Rendering follows transformers' `apply_chat_template` (transformers/utils/chat_template_utils.py,
`_compile_jinja_template` and `render_jinja_template`): an ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension, a `{% generation %}` tag, a `tojson`
filter that does not HTML-escape, the globals `raise_exception` and `strftime_now`, and the
variables messages, tools=None, documents=None, add_generation_prompt, bos_token, eos_token.
Like transformers, the text is returned as the template writes it: it may start with the BOS
token's text, so a caller that also adds BOS must not add it twice.

jinja2's sandbox blocks unsafe attributes but not unbounded work, so every render has a budget
(template_limits.py): each `{% for %}` iteration and each call (macros included) is one step,
at most MAX_STEPS, MAX_SECONDS and calls nested MAX_DEPTH deep. Within a single call the
limits hold too: every filter, str method, operator, `~`, `{{ }}` output and block capture
that can allocate by an argument measures its result first (template_calls.py) and refuses
one over MAX_CHARS / MAX_ITEMS or past the render's MAX_ALLOC_BYTES. range() is capped at
100000 items by the sandbox. Reading a forbidden attribute fails at once (jinja2 would defer it).

Without a template in the file: Gemma's turn format for gemma* architectures (or a vocabulary
with <start_of_turn>), else ChatML.
"""

from datetime import datetime
import json

from jinja2 import nodes
from jinja2 import exceptions as jinja_errors
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from .errors import TemplateError
from .template_calls import binop_size, capped_filter, check_method
from .template_limits import (MAX_BLOCK_NESTING, MAX_CHARS, MAX_DEPTH, MAX_SOURCE_CHARS,
                              MAX_STEPS, Budget, OverBudget, format_spec_size, text_size)

__all__ = ["ChatTemplate", "MAX_DEPTH", "MAX_STEPS", "MAX_CHARS"]

MAX_MESSAGE = 240           # characters in an error message

# ChatML: https://github.com/openai/openai-python/blob/release-v0.28.0/chatml.md
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma turns as in the google/gemma-3-*-it template: the assistant speaks as "model", a
# leading system message becomes a prefix of the first turn, contents are trimmed.
GEMMA = (
    "{{ bos_token }}"
    "{% set ns = namespace(prefix='') %}{% set turns = messages %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set ns.prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% endif %}"
    "{% for message in turns %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (ns.prefix if loop.first else '')"
    " + (message['content'] | trim) + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


class _GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}`, transformers' assistant-mask marker: the body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with a per-render Budget that every step, call, operator, filter,
    `~`, output and block capture is checked against (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self):
        super().__init__(trim_blocks=True, lstrip_blocks=True, finalize=self._finalize,
                         extensions=[loopcontrols, _GenerationTag])
        del self.globals["lipsum"]          # lipsum(n) does unbounded work outside the budget
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.filters["tojson"] = _tojson
        for name, function in self.filters.items():
            self.filters[name] = capped_filter(name, function, lambda: self.budget)
        self.budget = Budget()

    def bounded_iter(self, iterable):
        """Wraps the iterable of every `{% for %}` (see `_Bounded`)."""
        for item in iterable:
            self.budget.tick()
            yield item

    def call(self, context, obj, /, *args, **kwargs):
        budget = self.budget
        budget.tick()
        budget.depth += 1
        try:
            if budget.depth > MAX_DEPTH:
                raise OverBudget(f"calls nested deeper than {MAX_DEPTH} (endless recursion?)")
            # jinja2 passes its own _loop_vars / _block_vars along; they are not the method's
            args = check_method(budget, obj, args, {k: v for k, v in kwargs.items()
                                                    if k not in ("_loop_vars", "_block_vars")})
            return budget.charge(super().call(context, obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    def call_binop(self, context, operator, left, right):
        binop_size(operator, left, right, self.budget)
        return self.budget.charge(super().call_binop(context, operator, left, right))

    def getitem(self, obj, argument):
        value = super().getitem(obj, argument)
        return self.budget.charge(value) if isinstance(argument, slice) else value

    def bounded_concat(self, *parts):
        """Every `a ~ b` (see `_Bounded`): measured, then joined as jinja2's str_join does."""
        budget = self.budget
        budget.need("`~`", sum(text_size(part, budget) for part in parts))
        return budget.charge("".join(map(str, parts)))

    def concat(self, pieces):
        """Joins the output captured by `{% set %}`, `{% filter %}`, macros and `caller()`."""
        pieces = pieces if isinstance(pieces, list) else list(pieces)
        self.budget.need("a block's output", sum(map(len, pieces)))
        return self.budget.charge("".join(pieces))

    def _finalize(self, value):
        """Every `{{ value }}` before jinja2 makes it text: a non-string is measured first."""
        if not isinstance(value, str):
            size = text_size(value, self.budget)
            self.budget.need("`{{ }}`", size)
            self.budget.bytes += size
        return value

    def wrap_str_format(self, value):
        """`'...'.format(...)` and format_map through _CappedFormatter (jinja2 does the same
        with its SandboxedFormatter)."""
        if super().wrap_str_format(value) is None:
            return None
        text, by_name = value.__self__, value.__name__ == "format_map"
        formatter = (_CappedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                     else _CappedFormatter(self))

        def format_(*args, **kwargs):
            if by_name and (kwargs or len(args) != 1):
                raise TypeError("format_map() takes exactly one argument")
            args, kwargs = ((), args[0]) if by_name else (args, kwargs)
            return type(text)(formatter.vformat(text, args, kwargs))

        return format_

    def unsafe_undefined(self, obj, attribute):
        # jinja2 returns an Undefined that only fails when used; `{{ x.__class__ }}` would print ""
        raise jinja_errors.SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def compile_bounded(self, source: str):
        """Compile `source` with the budget checks of `_Bounded` woven in."""
        if len(source) > MAX_SOURCE_CHARS:
            raise OverBudget(f"the template is {len(source)} characters long "
                             f"(the limit is {MAX_SOURCE_CHARS})")
        tree = self.parse(source)
        _check_nesting(tree)
        tree = _Bounded().visit(tree)
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None))


class _CappedFormatter(SandboxedFormatter):
    """str.format whose fields are measured before they are made (width, precision, value)."""

    escape_factor = 1

    def vformat(self, format_string, args, kwargs):
        self.chars = len(format_string)
        return super().vformat(format_string, args, kwargs)

    def convert_field(self, value, conversion):
        if conversion is not None:
            text_size(value, self._env.budget, nested=conversion != "s")
        return super().convert_field(value, conversion)

    def format_field(self, value, format_spec):
        budget = self._env.budget
        self.chars += self.escape_factor * format_spec_size(value, format_spec, budget)
        budget.need("format", self.chars)
        return budget.charge(super().format_field(value, format_spec))


class _CappedEscapeFormatter(_CappedFormatter, EscapeFormatter):
    escape_factor = 6           # markupsafe escapes each field: `"` -> `&#34;`


class _Bounded(NodeTransformer):
    """Rewrites the template tree: `{% for x in it %}` iterates `bounded_iter(it)` and
    `a ~ b` becomes `bounded_concat(a, b)`, both environment methods that count or measure."""

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = _environment_call("bounded_iter", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node):
        node = self.generic_visit(node)
        return _environment_call("bounded_concat", node.nodes, node.lineno)


def _check_nesting(tree: nodes.Template) -> None:
    """Refuse statements nested deeper than MAX_BLOCK_NESTING before jinja2 compiles them (its
    code generation takes time superlinear in the nesting: 1 s at 100 nested loops)."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, nodes.Stmt):
            depth += 1
            if depth > MAX_BLOCK_NESTING:
                raise OverBudget(f"statements nested deeper than {MAX_BLOCK_NESTING}")
        stack.extend((child, depth) for child in node.iter_child_nodes())


def _environment_call(method: str, args: list, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(method), args, [], None, None, lineno=lineno)


def _raise_exception(message):
    raise jinja_errors.TemplateError(message)


def _strftime_now(fmt):
    if len(str(fmt)) > 256:     # the text is at most 256 times the format (CPython time.strftime)
        raise OverBudget("strftime_now's format is longer than 256 characters")
    return datetime.now().strftime(fmt)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers overrides jinja's tojson, which HTML-escapes <, >, & and '
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


class ChatTemplate:
    """A compiled chat template; `name` says where it came from."""

    def __init__(self, source: str, name: str, bos_token: str | None = None,
                 eos_token: str | None = None):
        self.source = source
        self.name = name
        self._special = {k: v for k, v in (("bos_token", bos_token), ("eos_token", eos_token))
                         if v is not None}
        self._env = _BoundedSandbox()
        self._template = None
        self._error = None           # a template that does not compile fails at render time,
        try:                         # so the model still loads for plain-text generation
            self._template = self._env.compile_bounded(source)
        except Exception as e:       # untrusted code: any failure is the template's
            self._error = e

    @classmethod
    def from_metadata(cls, metadata: dict) -> "ChatTemplate":
        tokens = metadata.get("tokenizer.ggml.tokens")
        tokens = [] if tokens is None else tokens
        special = {}
        for key in ("bos", "eos"):
            token_id = metadata.get(f"tokenizer.ggml.{key}_token_id")
            if token_id is not None and 0 <= int(token_id) < len(tokens):
                special[f"{key}_token"] = tokens[int(token_id)]
        source = metadata.get("tokenizer.chat_template")
        if isinstance(source, str) and source.strip():
            return cls(source, "tokenizer.chat_template", **special)
        if source is not None and not isinstance(source, str):
            raise TemplateError(f"GGUF field tokenizer.chat_template must be a string, "
                                f"got {type(source).__name__}")
        arch = str(metadata.get("general.architecture", ""))
        if arch.startswith("gemma") or "<start_of_turn>" in tokens:
            return cls(GEMMA, "built-in gemma", **special)
        return cls(CHATML, "built-in chatml", **special)

    def render(self, messages: list[dict], add_generation_prompt: bool = True, **variables) -> str:
        """The prompt text for `messages` ({"role", "content"} dicts); `variables` add or replace
        template variables, as apply_chat_template's keyword arguments (tools, Qwen3's
        enable_thinking...). TemplateError on failure."""
        if self._error is not None:
            raise TemplateError(self._describe(self._error)) from self._error
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise TemplateError(f"chat message {i} must be a dict with role and content, "
                                    f"got {type(message).__name__}")
        variables = {**self._special, "tools": None, "documents": None, **variables,
                     "messages": messages, "add_generation_prompt": add_generation_prompt}
        self._env.budget = Budget()
        try:
            parts, size = [], 0
            for part in self._template.generate(**variables):
                size += len(part)
                if size > MAX_CHARS:
                    raise OverBudget(f"output longer than {MAX_CHARS} characters")
                parts.append(part)
            return "".join(parts)
        except Exception as e:       # untrusted code: any failure is the template's
            raise TemplateError(self._describe(e)) from e

    def _describe(self, e: BaseException) -> str:
        """One line of at most MAX_MESSAGE characters (quoted template text is cut short)."""
        message = " ".join(self._explain(e).split())
        return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 3] + "..."

    def _explain(self, e: BaseException) -> str:
        where = f"chat template ({self.name[:40]})"
        if isinstance(e, jinja_errors.TemplateSyntaxError):
            return f"{where} has a syntax error at line {e.lineno}: {e.message}"
        if isinstance(e, jinja_errors.SecurityError):
            return f"{where} tried a forbidden operation: {e}"
        if isinstance(e, jinja_errors.UndefinedError):
            return f"{where} used an undefined value: {e}"
        if isinstance(e, jinja_errors.TemplateError):
            return f"{where} raised an error: {e}"
        if isinstance(e, OverBudget):
            return f"{where} exceeded its render budget: {e}"
        if isinstance(e, RecursionError):
            return f"{where} recursed too deeply"
        if isinstance(e, MemoryError):
            return f"{where} ran out of memory"
        # Python's own words, without its class name (the error's class is TemplateError)
        return f"{where} failed: {e}" if str(e) else f"{where} failed ({type(e).__name__})"
