"""Tokenizer speed: encoding 1,000 tokens of English, cold (empty cache) and warm.

    python scripts/bench_tokenizer.py [MODEL ...]     # names or .gguf paths; default: both known

Cold = a freshly built tokenizer, so every word goes through BPE; warm = the same text again,
every word a cache hit. Each number is the median of several runs, as CPU time (what to read on
a shared machine) and wall time. The goal is cold < 50 ms.
"""

import statistics
import sys
import time

from minfer_wasm.gguf import GGUFFile
from minfer_wasm.native import model_store
from minfer_wasm.tokenizer import Tokenizer

ENGLISH = """\
The history of computing is a story of ideas that took decades to become practical. Charles
Babbage designed his Analytical Engine in the 1830s, yet no one built it in his lifetime. Ada
Lovelace wrote what many consider the first program for it, describing how the machine could
compute Bernoulli numbers; she also suggested that such engines might one day compose music.
A century later, Alan Turing asked what it would mean for a machine to think, and proposed a
test that is still argued about today. During the Second World War, engineers in Britain and
the United States built electronic machines to break codes and calculate artillery tables.
Those machines filled rooms, consumed enormous amounts of power, and failed often, because
vacuum tubes burned out like light bulbs. The invention of the transistor changed everything.
Smaller, cooler and far more reliable, transistors let designers pack more logic into less
space, and the integrated circuit soon put many of them onto a single chip of silicon.
Gordon Moore observed that the number of components on a chip was doubling at a steady pace,
and the industry treated his observation as a schedule. Personal computers arrived in homes
and offices; networks connected them; the web made the network something ordinary people
used every day. Software grew with the hardware. Early programmers wrote in machine code,
then in assembly, then in languages such as Fortran, Lisp, COBOL and C, each one letting
them say more with less. Today's developers write in Python or JavaScript, rely on libraries
written by thousands of strangers, and deploy programs that run on computers they will never
see. Machine learning is the newest chapter. Instead of writing rules by hand, engineers
collect examples and let an algorithm find the rules. Language models read enormous amounts
of text and learn to predict the next word; surprisingly, that simple objective produces
systems that can summarize articles, translate between languages, answer questions and write
code. They are far from perfect: they make confident mistakes, they reflect the biases of
their training data, and they need a great deal of computation. Researchers are working on
all of these problems, and on smaller models that run on a laptop or even inside a web page.
Whether that future arrives quickly or slowly, it will be built, like everything before it,
by people who were curious about how things work and stubborn enough to keep trying when
their first attempts failed. The lesson of history is not that progress is inevitable, but
that it is cumulative: each generation stands on the work of the last, fixing its mistakes
and extending its reach a little further than anyone thought possible. Students who learn
to program today will inherit tools their teachers could not have imagined, and they will
build things we cannot imagine either. That is the most exciting part of the story, and it
is still being written, one line of code, one experiment and one small improvement at a time.
Engineers often say that the best way to predict the future is to invent it, and that has
been true for every generation of computing. The people who built the first compilers did
not know that their work would make possible the operating systems, databases, browsers and
games that followed; they only knew that writing programs by hand was slow and error-prone,
and that a machine could do part of the job. Every abstraction since then has followed the
same pattern: find the tedious part, automate it, and free people to think about the problem
instead of the mechanics. Tokenizers are a small example. They turn text into numbers that a
model can process, and they must be fast, exact and predictable, because every prompt and
every reply passes through them twice, once on the way in and once on the way out again.
Consider what happens when you type a question into a chat window. Your words are split into
pieces: common words become a single token, rare ones are broken into fragments, and numbers
are often cut into individual digits. Each piece is looked up in a vocabulary of tens of
thousands of entries and replaced by its index. The model never sees letters at all; it sees
a sequence of integers, multiplies them through billions of learned weights, and produces a
probability for every entry in the vocabulary. A sampler picks one, the tokenizer turns it
back into text, and the cycle repeats until the answer is complete or a special token says
the turn is over. If the tokenizer splits text differently from the way it was split during
training, the model receives sequences it has rarely seen, and the quality of its answers
quietly degrades. That is why careful implementations compare their output, token by token,
with the reference implementation on many kinds of text: ordinary prose, source code,
mathematics, emoji, and scripts from every part of the world. Small differences matter more
than one might expect. A stray space before a word, a different treatment of apostrophes, or
a number split into the wrong groups can change which continuation the model finds likely.
Getting these details right is unglamorous work, but it is the foundation that everything
else rests on, and a fast, exact tokenizer is one of the quiet pleasures of a well-built system.
"""


def timed(fn) -> tuple[float, float]:
    """(wall, cpu) milliseconds of one call. CPU time is the number to read on a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def bench(model: str, runs: int = 5) -> None:
    metadata = GGUFFile.open(model_store.open_model(model, log=lambda _: None)).metadata
    build = timed(lambda: Tokenizer.from_metadata(metadata))
    tok = Tokenizer.from_metadata(metadata)
    text = tok.decode(tok.encode(ENGLISH, add_special=False)[:1000])   # 1,000 tokens' worth
    n = len(tok.encode(text, add_special=False))
    cold = []
    for _ in range(runs):
        fresh = Tokenizer.from_metadata(metadata)
        cold.append(timed(lambda: fresh.encode(text, add_special=False)))
        del fresh
    warm = [timed(lambda: tok.encode(text, add_special=False)) for _ in range(runs)]
    (cold_wall, cold_cpu), (warm_wall, warm_cpu) = _median(cold), _median(warm)
    print(f"{model}: encode {n} tokens of English: cold {cold_cpu:.1f} ms CPU "
          f"({cold_wall:.1f} ms wall), warm {warm_cpu:.1f} ms CPU ({warm_wall:.1f} ms wall); "
          f"tokenizer build {build[1]:.0f} ms CPU ({build[0]:.0f} ms wall)")


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main(argv: list[str]) -> None:
    for model in argv or ["smollm2-135m", "gemma3-270m"]:
        bench(model)


if __name__ == "__main__":
    main(sys.argv[1:])
