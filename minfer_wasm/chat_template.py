"""Chat templates: the GGUF's Jinja `tokenizer.chat_template`, rendered as transformers does,
in a sandbox that also bounds how much work a template may do.

Rendering follows transformers' `apply_chat_template` (transformers/utils/chat_template_utils.py,
`_compile_jinja_template` and `render_jinja_template`): an ImmutableSandboxedEnvironment with
trim_blocks and lstrip_blocks, the loopcontrols extension, a `{% generation %}` tag, a `tojson`
filter that does not HTML-escape, the globals `raise_exception` and `strftime_now`, and the
variables messages, tools=None, documents=None, add_generation_prompt, bos_token, eos_token.
Like transformers, the text is returned as the template writes it: it may start with the BOS
token's text, so a caller that also adds BOS must not add it twice.

jinja2's sandbox blocks unsafe attributes but not unbounded work, so every render has a budget:
each `{% for %}` iteration and each call (macros included) is one step. TemplateError on more
than MAX_STEPS steps or MAX_SECONDS, on calls nested deeper than MAX_DEPTH, on output or a `+` / `~` / `*` result longer than
MAX_CHARS, or on a `*` / `**` number over MAX_INT_BITS. range() is capped at 100000 items by
the sandbox. Reading a forbidden attribute fails at once (jinja2 would defer it).

Without a template in the file: Gemma's turn format for gemma* architectures (or a vocabulary
with <start_of_turn>), else ChatML.
"""

from datetime import datetime
import json
import time

from jinja2 import nodes
from jinja2 import exceptions as jinja_errors
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from .errors import TemplateError

MAX_STEPS = 100_000
MAX_DEPTH = 64          # nested calls: well inside Python's recursion limit on every host
MAX_SECONDS = 1.0
MAX_CHARS = 16 << 20
MAX_INT_BITS = 1 << 16

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


class _OverBudget(Exception):
    """A render ran past its budget (internal; becomes TemplateError)."""


class _GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}`, transformers' assistant-mask marker: the body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


class _Budget:
    def __init__(self):
        self.steps = 0
        self.depth = 0
        self.deadline = time.perf_counter() + MAX_SECONDS


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus a per-render step/time budget and size checks on `* ** +`."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self):
        super().__init__(trim_blocks=True, lstrip_blocks=True,
                         extensions=[loopcontrols, _GenerationTag])
        del self.globals["lipsum"]          # lipsum(n) does unbounded work outside the budget
        self.globals["raise_exception"] = _raise_exception
        self.globals["strftime_now"] = _strftime_now
        self.filters["tojson"] = _tojson
        self.budget = _Budget()

    def tick(self):
        budget = self.budget
        budget.steps += 1
        if budget.steps > MAX_STEPS:
            raise _OverBudget(f"more than {MAX_STEPS} loop iterations and calls "
                              "(does it loop forever?)")
        if time.perf_counter() > budget.deadline:
            raise _OverBudget(f"rendering took longer than {MAX_SECONDS} s")

    def bounded_iter(self, iterable):
        """Wraps the iterable of every `{% for %}` (see `_Bounded`)."""
        for item in iterable:
            self.tick()
            yield item

    def call(self, context, obj, /, *args, **kwargs):
        self.tick()
        budget = self.budget
        budget.depth += 1
        if budget.depth > MAX_DEPTH:
            raise _OverBudget(f"calls nested deeper than {MAX_DEPTH} (endless recursion?)")
        try:
            return super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1

    def call_binop(self, context, operator, left, right):
        if operator in ("*", "**"):
            _check_growth(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > MAX_CHARS:
            raise _OverBudget(f"`{operator}` made a value longer than {MAX_CHARS} items")
        return result

    def bounded_size(self, value):
        """Wraps every `~` concatenation (see `_Bounded`)."""
        if len(value) > MAX_CHARS:
            raise _OverBudget(f"`~` made a string longer than {MAX_CHARS} characters")
        return value

    def unsafe_undefined(self, obj, attribute):
        # jinja2 returns an Undefined that only fails when used; `{{ x.__class__ }}` would print ""
        raise jinja_errors.SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def compile_bounded(self, source: str):
        """Compile `source` with the budget checks of `_Bounded` woven in."""
        tree = _Bounded().visit(self.parse(source))
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None))


class _Bounded(NodeTransformer):
    """Rewrites the template tree: `{% for x in it %}` iterates `bounded_iter(it)` and
    `a ~ b` becomes `bounded_size(a ~ b)`, both environment methods that count or measure."""

    def visit_For(self, node):
        node = self.generic_visit(node)
        node.iter = _environment_call("bounded_iter", node.iter)
        return node

    def visit_Concat(self, node):
        return _environment_call("bounded_size", self.generic_visit(node))


def _environment_call(method: str, arg: nodes.Expr) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(method), [arg], [], None, None, lineno=arg.lineno)


def _check_growth(operator, left, right):
    """Refuse `*` / `**` whose result would be huge, before computing it."""
    sequences = (str, list, tuple)
    if isinstance(left, int) and isinstance(right, int):
        if operator == "**":
            too_big = right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS
        else:
            too_big = left.bit_length() + right.bit_length() > MAX_INT_BITS
    elif operator == "*" and isinstance(left, sequences) and isinstance(right, int):
        too_big = len(left) * right > MAX_CHARS
    elif operator == "*" and isinstance(left, int) and isinstance(right, sequences):
        too_big = left * len(right) > MAX_CHARS
    else:
        too_big = False
    if too_big:
        raise _OverBudget(f"`{operator}` would make a value too large")


def _raise_exception(message):
    raise jinja_errors.TemplateError(message)


def _strftime_now(fmt):
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
            self._error = self._describe(e)

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
        """The prompt text for `messages` ({"role", "content"} dicts); `variables` are more template
        variables, as apply_chat_template's keyword arguments (Qwen3's enable_thinking).
        TemplateError on failure."""
        if self._error is not None:
            raise TemplateError(self._error)
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise TemplateError(f"chat message {i} must be a dict with role and content, "
                                    f"got {type(message).__name__}")
        variables = dict(self._special, **variables, messages=messages, tools=None, documents=None,
                         add_generation_prompt=add_generation_prompt)
        self._env.budget = _Budget()
        try:
            parts, size = [], 0
            for part in self._template.generate(**variables):
                size += len(part)
                if size > MAX_CHARS:
                    raise _OverBudget(f"output longer than {MAX_CHARS} characters")
                parts.append(part)
            return "".join(parts)
        except Exception as e:       # untrusted code: any failure is the template's
            raise TemplateError(self._describe(e)) from e

    def _describe(self, e: BaseException) -> str:
        where = f"chat template ({self.name})"
        if isinstance(e, jinja_errors.TemplateSyntaxError):
            return f"{where} has a syntax error at line {e.lineno}: {e.message}"
        if isinstance(e, jinja_errors.SecurityError):
            return f"{where} tried a forbidden operation: {e}"
        if isinstance(e, jinja_errors.UndefinedError):
            return f"{where} used an undefined value: {e}"
        if isinstance(e, jinja_errors.TemplateError):
            return f"{where} raised an error: {e}"
        if isinstance(e, _OverBudget):
            return f"{where} exceeded its render budget: {e}"
        if isinstance(e, RecursionError):
            return f"{where} recursed too deeply"
        if isinstance(e, MemoryError):
            return f"{where} ran out of memory"
        return f"{where} failed: {type(e).__name__}: {e}"
