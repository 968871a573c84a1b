"""Chat templates: the real models' templates against the documented turn formats built here
independently, transformers' environment settings, and templates that fail or run away."""

from datetime import datetime
import json
from pathlib import Path
import random
import re
import time
import zlib

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
import pytest

from common_chat_templates import TEMPLATES

from minfer_wasm.chat_template import MAX_DEPTH, MAX_STEPS, ChatTemplate
from minfer_wasm.template_limits import (MAX_CHARS, Budget, format_spec_size, printf_size,
                                         text_size)
from minfer_wasm.errors import TemplateError

MODELS = Path.home() / ".cache" / "minfer-wasm" / "models"
SMOLLM = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = MODELS / "gemma-3-270m-q4_k_m.gguf"

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "  Hello there!\n"},
    {"role": "assistant", "content": "Hi. What do you need?"},
    {"role": "user", "content": "Name a prime: <b>é</b>"},
]


# ---- the documented formats, built without Jinja ----------------------------------------------

def chatml(messages, add_generation_prompt):
    """ChatML: <|im_start|>{role}\\n{content}<|im_end|>\\n per message."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def gemma_turns(messages, add_generation_prompt, bos="<bos>"):
    """Gemma: <start_of_turn>{user|model}\\n{content}<end_of_turn>\\n, the system text and a
    blank line prefixed to the first turn, contents stripped, after the BOS text."""
    prefix = ""
    if messages and messages[0]["role"] == "system":
        prefix, messages = messages[0]["content"] + "\n\n", messages[1:]
    turns = []
    for i, m in enumerate(messages):
        role = "model" if m["role"] == "assistant" else m["role"]
        turns.append(f"<start_of_turn>{role}\n{prefix if i == 0 else ''}{m['content'].strip()}"
                     "<end_of_turn>\n")
    return bos + "".join(turns) + ("<start_of_turn>model\n" if add_generation_prompt else "")


def real_metadata(path):
    if not path.exists():
        pytest.skip(f"{path.name} not downloaded (minfer-wasm models pull)")
    from minfer_wasm.gguf import GGUFFile
    from minfer_wasm.sources import FileSource
    return GGUFFile.open(FileSource(path)).metadata


# ---- the real models --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm():
    return ChatTemplate.from_metadata(real_metadata(SMOLLM))


@pytest.fixture(scope="module")
def gemma():
    return ChatTemplate.from_metadata(real_metadata(GEMMA))


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_smollm_template_is_chatml(smollm, add_generation_prompt):
    assert smollm.name == "tokenizer.chat_template"
    assert smollm.render(CONVERSATION, add_generation_prompt) == chatml(CONVERSATION,
                                                                        add_generation_prompt)


def test_smollm_template_adds_its_own_system_turn(smollm):
    text = smollm.render(CONVERSATION[1:])
    rest = chatml(CONVERSATION[1:], True)
    assert text.endswith(rest)
    system = text[:-len(rest)]
    assert system.startswith("<|im_start|>system\n") and system.endswith("<|im_end|>\n")


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_gemma_file_uses_gemma_turns(gemma, add_generation_prompt):
    # gemma-3-270m's GGUF carries no chat template: the built-in Gemma format applies
    assert gemma.name == "built-in gemma"
    assert gemma.render(CONVERSATION, add_generation_prompt) == gemma_turns(CONVERSATION,
                                                                            add_generation_prompt)
    assert gemma.render(CONVERSATION[1:], add_generation_prompt) == gemma_turns(
        CONVERSATION[1:], add_generation_prompt)


def test_long_conversations_fit_the_budget(smollm, gemma):
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"}
                for i in range(3000)]
    assert smollm.render(messages).endswith(chatml(messages, True))
    assert gemma.render(messages) == gemma_turns(messages, True)


# ---- fallbacks and special tokens -------------------------------------------------------------

def metadata(arch, tokens=("<unk>", "<s>", "</s>"), template=None):
    md = {"general.architecture": arch, "tokenizer.ggml.tokens": list(tokens),
          "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2}
    if template is not None:
        md["tokenizer.chat_template"] = template
    return md


def test_fallback_chosen_by_architecture_or_tokens():
    assert ChatTemplate.from_metadata(metadata("gemma2")).name == "built-in gemma"
    assert ChatTemplate.from_metadata(
        metadata("llama", tokens=("<pad>", "<s>", "</s>", "<start_of_turn>"))).name == "built-in gemma"
    chat = ChatTemplate.from_metadata(metadata("llama"))
    assert chat.name == "built-in chatml"
    assert chat.render(CONVERSATION) == chatml(CONVERSATION, True)
    assert ChatTemplate.from_metadata(metadata("qwen2", template="  ")).name == "built-in chatml"


def test_gemma_fallback_uses_the_files_bos_text():
    chat = ChatTemplate.from_metadata(metadata("gemma3"))
    assert chat.render(CONVERSATION) == gemma_turns(CONVERSATION, True, bos="<s>")


def test_special_token_texts_come_from_the_vocabulary():
    md = metadata("llama", tokens=("<unk>", "<|begin|>", "<|end|>"),
                  template="{{ bos_token }}|{{ eos_token }}")
    assert ChatTemplate.from_metadata(md).render([]) == "<|begin|>|<|end|>"


def test_non_string_template_field_is_refused():
    with pytest.raises(TemplateError, match="tokenizer.chat_template"):
        ChatTemplate.from_metadata(metadata("llama", template=["a"]))


# ---- transformers' environment ----------------------------------------------------------------

def test_trim_and_lstrip_blocks():
    source = ("{% for m in messages %}\n"
              "    {% if m.role == 'user' %}\n"
              "{{ m.content }}\n"
              "    {% endif %}\n"
              "{% endfor %}\n")
    users = [m["content"] for m in CONVERSATION if m["role"] == "user"]
    # a line holding only a block tag disappears, newline and indentation included
    assert ChatTemplate(source, "t").render(CONVERSATION) == "".join(u + "\n" for u in users)


def test_tojson_does_not_escape_html_or_unicode():
    out = ChatTemplate("{{ messages | tojson }}", "t").render(CONVERSATION)
    assert out == json.dumps(CONVERSATION, ensure_ascii=False)
    out = ChatTemplate("{{ messages[0] | tojson(indent=2) }}", "t").render(CONVERSATION)
    assert out == json.dumps(CONVERSATION[0], ensure_ascii=False, indent=2)


def test_strftime_now_and_generation_tag_and_loop_controls():
    source = ("{{ strftime_now('%Y-%m-%d') }}|{% generation %}{{ messages[0].role }}{% endgeneration %}|"
              "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.role }},"
              "{% endfor %}")
    before = datetime.now().strftime("%Y-%m-%d")
    day, body, roles = ChatTemplate(source, "t").render(CONVERSATION).split("|")
    assert day in {before, datetime.now().strftime("%Y-%m-%d")}
    assert body == CONVERSATION[0]["role"]
    assert roles == "".join(m["role"] + "," for m in CONVERSATION[:2])


def test_add_generation_prompt_and_tools_variables():
    source = "{{ add_generation_prompt }}|{{ tools is none }}|{{ documents is none }}"
    assert ChatTemplate(source, "t").render([], add_generation_prompt=False) == "False|True|True"


# ---- failures: each becomes TemplateError, and the template stays usable ----------------------

def guarded(body):
    """`body` runs only for conversations longer than one message; otherwise the template says ok."""
    return "{% if messages | length > 1 %}" + body + "{% endif %}ok"


ONE = [{"role": "user", "content": "hi"}]

RUNAWAY = {   # name: (template body, what the error says)
    "huge range": ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    "nested loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                     "{% endfor %}", "loop iterations"),
    "recursive macro": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
                        "nested deeper"),
    "branching macro": ("{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
                        "{% endmacro %}{{ f(0) }}", "loop iterations and calls|longer than"),
    "string doubling ~": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", "`~`"),
    "string doubling +": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                          "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", "`\\+`"),
    "number squaring": ("{% set ns = namespace(x=3) %}{% for i in range(64) %}"
                        "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}", "`\\*`"),
    "string repeat": ("{{ 'abc' * 10**10 }}", "`\\*`"),
    "power": ("{{ 7 ** (10**9) }}", "`\\*\\*`"),
    "long output": ("{% for i in range(99999) %}{{ messages | tojson }}{% endfor %}",
                    "output longer"),
}


@pytest.mark.parametrize("name", RUNAWAY)
def test_runaway_templates_stop_fast(name):
    body, reason = RUNAWAY[name]
    chat = ChatTemplate(guarded(body), "runaway")
    big = [{"role": "user", "content": "x" * 400}] * 2
    start = time.perf_counter()
    with pytest.raises(TemplateError, match=reason):
        chat.render(big)
    assert time.perf_counter() - start < 5.0     # ~1 s budget; generous for a loaded machine
    assert chat.render(ONE) == "ok"


def nested_macro(depth):
    """A macro that calls itself until `depth` calls are open at once; prints one dot per call."""
    return ("{% macro f(n) %}{% if n > 1 %}{{ f(n - 1) }}{% endif %}.{% endmacro %}"
            f"{{{{ f({depth}) }}}}")


def test_nesting_up_to_max_depth_renders():
    assert ChatTemplate(nested_macro(MAX_DEPTH), "t").render(ONE) == "." * MAX_DEPTH
    with pytest.raises(TemplateError, match="nested deeper"):
        ChatTemplate(nested_macro(MAX_DEPTH + 1), "t").render(ONE)


def test_budget_is_per_render():
    steps = MAX_STEPS * 2 // 3
    chat = ChatTemplate(f"{{% for i in range({steps}) %}}{{% endfor %}}done", "t")
    assert chat.render(ONE) == "done"
    assert chat.render(ONE) == "done"         # two renders together exceed MAX_STEPS


@pytest.mark.parametrize("body,reason", [
    ("{{ raise_exception('roles must alternate') }}", "raised an error: roles must alternate"),
    ("{{ messages.__class__ }}", "forbidden"),
    ("{{ ''.__class__.__mro__ }}", "forbidden"),
    ("{{ messages | attr('__class__') }}", "forbidden"),
    ("{{ cycler.__init__.__globals__ }}", "forbidden"),
    ("{{ messages.append(1) }}", "forbidden"),
    ("{{ messages[0].update(role='x') }}", "forbidden"),
    ("{{ nothing.here }}", "undefined"),
    ("{{ lipsum(10**6) }}", "undefined"),
    ("{{ 'a' + 1 }}", 'failed: can only concatenate str \\(not "int"\\) to str'),
    ("{{ range(10**9) }}", "failed: Range too big"),
])
def test_template_errors_name_the_problem(body, reason):
    chat = ChatTemplate(guarded(body), "my-template")
    with pytest.raises(TemplateError, match=reason) as info:
        chat.render(CONVERSATION)
    assert "my-template" in str(info.value) and "Error" not in str(info.value)
    assert chat.render(ONE) == "ok"


def test_syntax_error_is_reported_at_render_time():
    chat = ChatTemplate.from_metadata(metadata("llama", template="{% for m in messages %}\n{% if %}"))
    with pytest.raises(TemplateError, match="syntax error at line 2"):
        chat.render(ONE)


def test_messages_must_be_dicts():
    chat = ChatTemplate.from_metadata(metadata("llama"))
    with pytest.raises(TemplateError, match="message 1"):
        chat.render([{"role": "user", "content": "a"}, "b"])


# ---- common models' templates: the same text as jinja2's own sandbox ------------------------

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city, now.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"enum": ["C", "F"]}},
                   "required": ["city"]}}}]
TOOL_CONVERSATION = [
    {"role": "system", "content": "You help with the weather."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"type": "function",
                     "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": '{"temperature": 21, "unit": "C"}'},
    {"role": "assistant", "content": "<think>\nIt is mild.\n</think>\n\nIt is 21 °C in Paris."},
    {"role": "user", "content": "And tomorrow? <b>é</b>"},
]
LLAMA_TOOL_CONVERSATION = [m for m in TOOL_CONVERSATION if m["role"] != "tool"][:3] + [
    {"role": "ipython", "content": {"temperature": 21}},
    {"role": "assistant", "content": "It is 21 °C."}, {"role": "user", "content": "Thanks"}]
USER_FIRST = [m for m in CONVERSATION if m["role"] != "system"]

COMMON_CASES = [   # (template, messages, extra variables)
    *[(name, conversation, {}) for name in TEMPLATES
      for conversation in (CONVERSATION, USER_FIRST)],
    ("qwen2.5", TOOL_CONVERSATION, {"tools": TOOLS}),
    ("qwen3", TOOL_CONVERSATION, {"tools": TOOLS}),
    ("qwen3", TOOL_CONVERSATION, {"tools": TOOLS, "enable_thinking": False}),
    ("qwen3", USER_FIRST, {"enable_thinking": True}),
    ("llama3.1", LLAMA_TOOL_CONVERSATION, {"tools": TOOLS}),
    ("llama3.1", LLAMA_TOOL_CONVERSATION, {"tools": TOOLS, "tools_in_user_message": False,
                                           "date_string": "1 Jan 2026"}),
]


def plain_jinja(source):
    """jinja2's own ImmutableSandboxedEnvironment set up as transformers sets it up."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = lambda v, ensure_ascii=False, indent=None, separators=None, \
        sort_keys=False: json.dumps(v, ensure_ascii=ensure_ascii, indent=indent,
                                    separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.globals.update(raise_exception=raise_exception,
                       strftime_now=lambda fmt: datetime.now().strftime(fmt))
    return env.from_string(source)


@pytest.mark.parametrize("name,messages,extra", COMMON_CASES,
                         ids=[f"{n}-{len(m)}msgs-{'+'.join(e) or 'plain'}"
                              for n, m, e in COMMON_CASES])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_common_templates_render_as_plain_jinja(name, messages, extra, add_generation_prompt):
    variables = dict(dict(messages=messages, add_generation_prompt=add_generation_prompt,
                          tools=None, documents=None, bos_token="<s>", eos_token="</s>"), **extra)
    chat = ChatTemplate(TEMPLATES[name], name, bos_token="<s>", eos_token="</s>")
    try:
        expected = plain_jinja(TEMPLATES[name]).render(**variables)
    except jinja2.exceptions.TemplateError as e:     # e.g. gemma refuses a system turn
        with pytest.raises(TemplateError, match=re.escape(str(e))):
            chat.render(messages, add_generation_prompt, **extra)
        return
    assert chat.render(messages, add_generation_prompt, **extra) == expected


def test_common_templates_cover_tools_thinking_and_refusals():
    # the table above exercises what it claims: tools printed, thinking switched, refusals
    qwen3 = ChatTemplate(TEMPLATES["qwen3"], "qwen3")
    with_tools = qwen3.render(TOOL_CONVERSATION, True, tools=TOOLS, enable_thinking=False)
    assert json.dumps(TOOLS[0], ensure_ascii=False) in with_tools
    assert with_tools.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "It is mild" not in with_tools      # reasoning before the last query is dropped
    llama = ChatTemplate(TEMPLATES["llama3.1"], "llama3.1", bos_token="<s>")
    assert json.dumps(TOOLS[0], indent=4) in llama.render(LLAMA_TOOL_CONVERSATION, True, tools=TOOLS)
    with pytest.raises(TemplateError, match="System role not supported"):
        ChatTemplate(TEMPLATES["gemma2"], "gemma2").render(CONVERSATION)


# ---- the limits: sizes measured before making a value are upper bounds -----------------------

def random_value(rng, depth=0):
    """A seeded random JSON-like value: strings with quotes, escapes and non-ASCII, numbers,
    nesting, and lists that repeat one child (shared references)."""
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return "".join(rng.choice('ab"\\\n\t\x00é€😀 <>&') for _ in range(rng.randrange(12)))
    if kind == 1:
        return rng.choice([0, -1, 7, 2**70, -(2**90)])
    if kind == 2:
        return rng.choice([0.1, -1e308, 1e-300, 3.0])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if kind == 5:
        return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randrange(4))}
    return [random_value(rng, depth + 1)] * rng.randrange(1, 4)


def test_text_size_bounds_str_repr_and_json():
    rng = random.Random(zlib.crc32(b"text_size"))
    budget = Budget()
    for _ in range(400):
        value = random_value(rng)
        assert len(str(value)) <= text_size(value, budget)
        assert len(repr(value)) <= text_size(value, budget, nested=True)
        for indent in (None, 0, 2, 7):
            printed = json.dumps(value, ensure_ascii=False, indent=indent)
            assert len(printed) <= text_size(value, budget, nested=True, indent=(indent or 0) + 3)


@pytest.mark.parametrize("fmt,args", [
    ("%s|%r|%a", ("é\n", ["x", 1], "😀")), ("%5d|%-7.3f|%+08.2e", (42, 3.14159, -1e300)),
    ("%*.*f|%%|%c", (12, 4, 2.5, 65)), ("%(a)s-%(b)10r", {"a": [1, "two"], "b": None}),
    ("%x %o %X %i %u", (255, 8, 3000, -4, 5)), ("%.3s|%10s", ("abcdef", "é")),
    ("%s", "plain"), ("%g %G %F", (1e20, 1e-20, 1.5)), ("%#x|%#o|%d", (2**4000, 2**4000, 2**9000)),
    ("%f|%.50e", (1e308, -2**1000)),
])
def test_printf_size_bounds_python(fmt, args):
    assert len(fmt % args) <= printf_size(fmt, args, Budget())


@pytest.mark.parametrize("value,spec", [
    ("abc", ">20"), ("é", "*^9"), (3.14159, ".3f"), (-12345678, ",d"), (255, "#010x"),
    (1e300, "f"), (2**64, "_"), ("x", ""), (0.5, "%"), (7, "0=+12"), (2**9000, "_b"),
    (-1e308, ",.2f"), (2**9000, "#_o"), ("é€", "~<30"),
])
def test_format_spec_size_bounds_python(value, spec):
    assert len(format(value, spec)) <= format_spec_size(value, spec, Budget())


# Calls that allocate by an argument, with arguments a real template might use: the same text
# as jinja2's own sandbox.
BENIGN = [
    "{{ 'a'.center(9) }}|{{ 'b' | center(7) }}|{{ 'c'.ljust(4, '.') }}|{{ 'd'.rjust(3) }}",
    "{{ '7'.zfill(5) }}|{{ 'a\\tb'.expandtabs(4) }}|{{ 'x-y-z'.split('-') }}|{{ 'a\\nb'.splitlines() }}",
    "{{ '%5d|%-6s|%.2f' % (42, 'ab', 3.14159) }}|{{ '%s' % messages[0] }}|{{ '%s' % [1, 'a'] }}",
    "{{ '%(n)s=%(v)04d' % {'n': 'x', 'v': 7} }}|{{ '%s and %s' | format('a', 'b') }}",
    "{{ '{:>8}|{:^7.2f}|{!r}|{name}'.format('r', 2.5, 'q', name='n') }}|{{ '{a}'.format_map({'a': 1}) }}",
    "{{ messages[1].content | wordwrap(5) }}|{{ 'see www.example.com or a@b.org' | urlize }}",
    "{{ 'l1\\nl2\\n\\nl3' | indent(2) }}|{{ 'l1\\nl2' | indent('> ', true, true) }}",
    "{{ 'aXbXc' | replace('X', '--') }}|{{ 'aaa'.replace('a', 'bb', 2) }}|{{ 'ab' | replace('', '.') }}",
    "{{ messages | tojson(indent=2) }}|{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true) }}",
    "{{ messages | map(attribute='role') | join(', ') }}|{{ ', '.join(['x', 'y']) }}|{{ [1, 2] | join }}",
    "{{ messages | sort(attribute='role') | map(attribute='role') | list }}|{{ [3, 1, 2] | sort(reverse=true) }}",
    "{{ range(7) | batch(3, 0) | list }}|{{ range(7) | slice(3) | list }}|{{ range(5) | slice(3, 'f') | list }}",
    "{{ 'ab' * 3 }}|{{ [1] * 3 }}|{{ 3 * 'c' }}|{{ 2 ** 10 }}|{{ [1] + [2] }}|{{ 'a' ~ 1 ~ none }}",
    "{{ range(5) | list }}|{{ range(3) | sum }}|{{ [1.5, 2] | sum(start=1) }}|{{ 'abc' | reverse }}",
    "{{ 'ß' | upper }}|{{ 'Ab' | lower }}|{{ 'a b' | title }}|{{ '<b>&</b>' | e }}|{{ '<b>x</b>' | striptags }}",
    "{{ 'é x' | urlencode }}|{{ {'a': '\"'} | xmlattr }}|{{ [1, {'a': 2}] | pprint }}|{{ 'long text' | truncate(6, true) }}",
    "{{ messages | groupby('role') | map(attribute='grouper') | list }}|{{ [1, 1, 2] | unique | list }}",
    "{{ {'b': 1, 'a': 2} | dictsort }}|{{ ['a', 'B'] | min }}|{{ [1, 3] | max }}|{{ 'x y z' | wordcount }}",
    "{% set v %}{% for m in messages %}{{ m.role }};{% endfor %}{% endset %}{{ v }}"
    "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) }}{% filter upper %}up{% endfilter %}",
    "{{ ('{}'|safe).format('<i>') }}|{{ ('%s'|safe) % '<i>' }}|{{ ('a'|safe).center(5) }}|{{ messages[1:] | length }}",
]


@pytest.mark.parametrize("source", BENIGN, ids=[f"benign{i}" for i in range(len(BENIGN))])
def test_capped_calls_render_as_plain_jinja(source):
    expected = plain_jinja(source).render(messages=CONVERSATION)
    assert ChatTemplate(source, "t").render(CONVERSATION) == expected


def test_a_render_may_use_most_of_its_allowance():
    # one large value, near MAX_CHARS, made and printed: allowed
    near = MAX_CHARS - 10
    assert len(ChatTemplate(f"{{{{ 'a'.center({near}) }}}}", "t").render(ONE)) == near
    with pytest.raises(TemplateError, match=f"center would make {MAX_CHARS + 1} characters"):
        ChatTemplate(f"{{{{ 'a'.center({MAX_CHARS + 1}) }}}}", "t").render(ONE)


def test_error_messages_are_one_short_line():
    chat = ChatTemplate("{{ raise_exception('line one\\n' + 'x' * 5000) }}", "t")
    with pytest.raises(TemplateError) as info:
        chat.render(ONE)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 240
    assert str(info.value).startswith("chat template (t) raised an error: line one x")
