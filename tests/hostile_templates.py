"""Hostile chat templates: a table of named cases, then generated ones (seeded), each meant
to end in a TemplateError. Plain data and one generator, shared by tests/test_fuzz_templates.py
(natively) and tests/pyodide_node/check_templates.py (in Pyodide)."""

import random
import zlib

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>é</b>"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "x" * 400}]

NAMED = {
    # ---- one call that would allocate by an argument
    "center method": "{{ 'a'.center(2000000000) }}",
    "center filter": "{{ 'a' | center(2000000000) }}",
    "center on markup": "{{ ('a' | safe).center(2000000000) }}",
    "ljust": "{{ 'a'.ljust(10**9) }}",
    "rjust": "{{ messages[0].content.rjust(10**9, '*') }}",
    "zfill": "{{ '1'.zfill(10**9) }}",
    "expandtabs": "{{ ('\t' * 1000).expandtabs(10**7) }}",
    "printf star width": "{{ '%*d' % (2000000000, 1) }}",
    "printf width": "{{ '%2000000000s' % 'a' }}",
    "printf precision": "{{ '%.3000000f' % 1e308 }}",
    "printf many fields": "{{ ('%s' * 1000) % ((('x' * 1000000),) * 1000) }}",
    "printf mapping": "{{ ('%(a)s' * 1000) % {'a': 'x' * 1000000} }}",
    "printf markup escapes": "{{ ('%s' | safe) % ('<' * 1000000) }}",
    "format filter": "{{ '%-2000000000s' | format('a') }}",
    "format filter fields": "{{ ('%s' * 100) | format(*(['y' * 1000000] * 100)) }}",
    "str.format width": "{{ '{:>2000000000}'.format('a') }}",
    "str.format nested width": "{{ '{:>{}}'.format('a', 2000000000) }}",
    "str.format precision": "{{ '{:.2000000000f}'.format(1.5) }}",
    "str.format repeated field": "{{ ('{0}' * 1000).format('x' * 1000000) }}",
    "str.format_map width": "{{ '{a:^2000000000}'.format_map({'a': 1}) }}",
    "str.format markup": "{{ ('{}' | safe).format('<' * 1000000) }}",
    "str.format repr": "{{ ('{0!r}' * 10).format(['x' * 1000000] * 100) }}",
    "wordwrap(1)": "{{ ('abcdefgh ' * 200000) | wordwrap(1) }}",
    "wordwrap wrapstring": "{{ ('a ' * 30000) | wordwrap(1, wrapstring='x' * 100000) }}",
    "urlize": "{{ ('www.example.com/a?b=c ' * 60000) | urlize }}",
    "urlize target": "{{ ('www.a.com ' * 6000) | urlize(target='x' * 1000000) }}",
    "indent": "{{ ('a\n' * 1000000) | indent(1000) }}",
    "indent string": "{{ ('\n' * 100000) | indent('x' * 100000) }}",
    "replace empty": "{{ ('a' * 1000000) | replace('', 'bbbb') }}",
    "replace method": "{{ ('a' * 1000000).replace('a', 'x' * 1000) }}",
    "replace growth": "{% set ns = namespace(s='aaaa') %}{% for i in range(40) %}"
                      "{% set ns.s = ns.s | replace('a', 'aa') %}{% endfor %}{{ ns.s | length }}",
    "tojson indent": "{{ messages | tojson(indent=1000000000) }}",
    "tojson indent string": "{{ [[[[[1]]]]] | tojson(indent='x' * 1000000) }}",
    "tojson shared": "{% set s = 'x' * 1000000 %}{{ ([s] * 100000) | tojson }}",
    "print shared list": "{% set s = 'x' * 1000000 %}{{ [s] * 100000 }}",
    "string shared": "{{ ([['x' * 1000000] * 1000] * 1000) | string }}",
    "pprint shared": "{{ ([['x' * 1000000] * 1000] * 1000) | pprint }}",
    "join shared": "{{ (['x' * 1000000] * 100000) | join }}",
    "join separator": "{{ range(100000) | join('x' * 100000) }}",
    "str.join": "{{ ('x' * 100000).join(range(100000) | map('string')) }}",
    "map center join": "{{ range(100000) | map('center', 100000) | join }}",
    "sort 16M items": "{{ (range(100000) | list * 160) | sort | length }}",
    "sort 100k items": "{{ range(100000) | sort | list | length }}",
    "unique": "{{ range(100000) | unique | list | length }}",
    "dictsort": "{{ {}.fromkeys(range(100000)) | dictsort | length }}",
    "groupby": "{{ range(100000) | batch(1) | groupby(0) | length }}",
    "batch fill": "{{ [1] | batch(2000000000, 'x') | list }}",
    "slice": "{{ [1] | slice(2000000000) | list }}",
    "sum of lists": "{{ ([[1]] * 100000) | sum(start=[]) }}",
    "list of a long string": "{{ ('ab' * 1000000) | list | length }}",
    "split": "{{ ('a,' * 1000000).split(',') | length }}",
    "splitlines": "{{ ('\n' * 2000000).splitlines() | length }}",
    "upper": "{{ ('ß' * 1000000) | upper }}",
    "upper method": "{{ ('ß' * 1000000).upper() }}",
    "escape": "{{ ('\"' * 1000000) | e }}",
    "urlencode": "{{ ('é' * 1000000) | urlencode }}",
    "fromkeys tojson": "{{ {}.fromkeys(range(100000), 'x' * 1000000) | tojson }}",
    "string times": "{{ 'abc' * 10**10 }}",
    "times string": "{{ 10**9 * 'a' }}",
    "list times": "{{ [1, 2] * 10**9 }}",
    "power": "{{ 7 ** (10 ** 9) }}",
    "range": "{{ range(10**10) | list }}",
    "long int to text": "{{ (10 ** 5000) | string }}",
    "translate": "{{ 'a'.translate({97: 'x' * 1000000}) }}",
    "encode": "{{ ('a' * 100).encode().center(10**9) }}",
    "to_bytes": "{{ (1).to_bytes(2000000000, 'big') }}",
    "strftime format": "{{ strftime_now('%Y' * 100000) }}",
    # ---- growth across steps
    "~ doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                  "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "+ doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                  "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "list doubling": "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}"
                     "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
    "list growth": "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                   "{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.l | length }}",
    "dict growth": "{% set ns = namespace(d={}) %}{% for i in range(100000) %}"
                   "{% set ns.d = dict(ns.d, **{'k' ~ i: i}) %}{% endfor %}{{ ns.d | length }}",
    "string accumulation": "{% set ns = namespace(s='') %}{% for i in range(100000) %}"
                           "{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}{{ ns.s | length }}",
    "list of new strings": "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                           "{% set ns.l = ns.l + [('x' * 100000) ~ i] %}{% endfor %}",
    "number squaring": "{% set ns = namespace(x=3) %}{% for i in range(64) %}"
                       "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}",
    "set block capture": "{% set x %}{% for i in range(100000) %}" + "A" * 2000 +
                         "{% endfor %}{% endset %}{{ x | length }}",
    "macro capture": "{% macro m() %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}"
                     "{% endmacro %}{{ m() | length }}",
    "filter block": "{% filter upper %}{% for i in range(100000) %}{{ messages }}{% endfor %}"
                    "{% endfilter %}",
    "caller": "{% macro m() %}{% for i in range(1000) %}{{ caller() }}{% endfor %}{% endmacro %}"
              "{% call m() %}{{ 'z' * 100000 }}{% endcall %}",
    "long output": "{% for i in range(100000) %}{{ messages | tojson }}{% endfor %}",
    "cycler": "{% set c = cycler('x' * 1000000) %}{% for i in range(100) %}{{ c.next() }}"
              "{% endfor %}",
    "joiner": "{% set j = joiner('x' * 1000000) %}{% for i in range(100) %}{{ j() }}{% endfor %}",
    "loop.cycle": "{% for i in range(100) %}{{ loop.cycle('x' * 1000000, 'y') }}{% endfor %}",
    # ---- time, recursion and nesting
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                    "{% endfor %}",
    "slow filter in a loop": "{% for i in range(100000) %}{{ ('<a>' * 600000) | striptags | length }}"
                             "{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "mutual recursion": "{% macro f(n) %}{{ g(n) }}{% endmacro %}{% macro g(n) %}{{ f(n) }}"
                        "{% endmacro %}{{ f(0) }}",
    "branching macro": "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
                       "{% endmacro %}{{ f(0) }}",
    "recursive loop": "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}",
    "deep parentheses": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "deep ifs": "{% if true %}" * 300 + "x" + "{% endif %}" * 300,
    "deep loops": "{% for i in [1] %}" * 100 + "x" + "{% endfor %}" * 100,
    "deep macros": "{% macro m() %}" * 60 + "x" + "{% endmacro %}" * 60,
    "long source": "{{ a }}" * 40_000,
    "deep list literal": "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "namespace holding itself": "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
    "huge comment": "{# " + "x" * 300_000 + " #}",
    # ---- sandbox escapes
    "__class__": "{{ messages.__class__ }}",
    "__subclasses__": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "__globals__ of cycler": "{{ cycler.__init__.__globals__ }}",
    "__globals__ of joiner": "{{ joiner.__init__.__globals__.os }}",
    "__globals__ of namespace": "{{ namespace.__init__.__globals__ }}",
    "__globals__ of raise_exception": "{{ raise_exception.__globals__ }}",
    "__globals__ of strftime_now": "{{ strftime_now.__globals__ }}",
    "__builtins__ via self": "{{ self.__init__.__globals__.__builtins__ }}",
    "attr filter": "{{ cycler | attr('__init__') | attr('__globals__') }}",
    "map attribute": "{{ messages | map(attribute='__class__') | list }}",
    "sort attribute": "{{ messages | sort(attribute='__class__.__name__') }}",
    "selectattr": "{{ messages | selectattr('__class__') | list }}",
    "format attribute": "{{ '{0.__class__.__mro__}'.format('') }}",
    "format globals": "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "format_map attribute": "{{ '{a.__class__}'.format_map({'a': 1}) }}",
    "namespace dunder": "{% set ns = namespace() %}{% set ns.__class__ = 1 %}{{ ns.__class__ }}",
    "loop internals": "{% for i in [1] %}{{ loop.__class__ }}{% endfor %}",
    "mutation": "{{ messages.append(1) }}",
    "dict mutation": "{{ messages[0].update(role='x') }}",
    "include": "{% include 'secrets.txt' %}",
    "lipsum": "{{ lipsum(10**6) }}",
}


# ---- generated: an amplifier with a huge argument, inside a random context ---------------------

AMPLIFIERS = [     # {n}: a huge number; {s}: a string expression
    "{s}.center({n})", "{s} | center({n})", "{s}.ljust({n})", "{s}.zfill({n})",
    "'%*s' % ({n}, {s})", "('%' ~ {n} ~ 'd') % 7", "('{{:>' ~ {n} ~ '}}').format({s})",
    "'{{:^{{}}}}'.format({s}, {n})",
    "{s} | indent({n})", "({s} * 1000) | wordwrap(1, wrapstring='-' * ({n} // 100000))",
    "({s} * 1000) | replace('', ' ' * ({n} // 100000))",
    "({s} * 1000).replace('', '~' * ({n} // 100000))",
    "[{s}] | tojson(indent={n})", "{s} * {n}", "[{s}] * {n}", "range({n})",
    "[{s}] | batch({n}, 'x') | list", "[{s}] | slice({n}) | list",
    "range(10) | map('center', {n}) | join", "(range(1000) | map('string') | list) | join('x' * ({n} // 1000))",
    "(({s},) * 1000) | join('y' * ({n} // 10000))",
]
STRINGS = ["'a'", "messages[0].content", "messages[-1].content", "('é' * 7)", "(1 | string)",
           "('<' | safe)"]
HUGE = ["2000000000", "10**9", "2**31", "2**40", "(10**8) * 3", "2e9 | int"]
CONTEXTS = [
    "{{{{ {x} }}}}",
    "{{{{ ({x}) | length }}}}",
    "{{% for i in range(3) %}}{{{{ {x} }}}}{{% endfor %}}",
    "{{% macro m() %}}{{{{ {x} }}}}{{% endmacro %}}{{{{ m() }}}}",
    "{{% set v %}}{{{{ {x} }}}}{{% endset %}}{{{{ v | length }}}}",
    "{{% filter trim %}}{{{{ {x} }}}}{{% endfilter %}}",
    "{{% set ns = namespace(v=none) %}}{{% set ns.v = {x} %}}{{{{ ns.v | length }}}}",
    "{{% macro m() %}}{{{{ caller() }}}}{{% endmacro %}}{{% call m() %}}{{{{ {x} }}}}{{% endcall %}}",
    "{{{{ 'pre' ~ ({x}) ~ 'post' }}}}",
    "{{% if messages %}}{{{{ {x} }}}}{{% endif %}}",
    "{{% for m in messages %}}{{% if loop.last %}}{{{{ {x} }}}}{{% endif %}}{{% endfor %}}",
]
N_GENERATED = 200


def generated_cases() -> dict:
    rng = random.Random(zlib.crc32(b"hostile chat templates"))
    cases = {}
    while len(cases) < N_GENERATED:
        amplifier = rng.choice(AMPLIFIERS).format(n=f"({rng.choice(HUGE)})", s=rng.choice(STRINGS))
        source = rng.choice(CONTEXTS).format(x=amplifier)
        cases.setdefault(f"gen{len(cases):03d}", source)
    return cases


GENERATED = generated_cases()
