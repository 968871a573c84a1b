"""Write tests/fixtures/tokenizer_corpus.json: the texts the tokenizer tests encode.

    python scripts/make_tokenizer_fixtures.py

Hand-written texts by kind (scripts, emoji, code, numbers, whitespace, special-token look-alikes,
URLs, long words), whitespace variants of some of them, and seeded random mixtures of all the
character classes the pre-tokenizers tell apart. Deterministic: rerunning writes the same file.
The expected token ids are not stored; the tests compute them with HF tokenizers.
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tokenizer_corpus.json"

ENGLISH = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll like it; they've said we'd go, and it's theirs.",
    "DON'T SHOUT! I'M LISTENING. THEY'RE HERE, WE'VE SEEN IT, HE'LL COME, SHE'D KNOW.",
    "What's the capital of France? Paris, of course.",
    "She said, \"Well... maybe.\" Then she left -- quietly.",
    "Once upon a time, in a land far, far away, there lived a small dragon named Ember.",
    "To be, or not to be: that is the question.",
    "e.g. i.e. etc. Mr. Smith vs. Dr. Jones (approx. 3 p.m.)",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "Rock 'n' roll isn't dead; it's 'resting' -- or so they say.",
    "A sentence with    several   irregular  spaces between words.",
    "Punctuation!!! Does it matter??? Yes;;; indeed::: (really) [truly] {honestly}",
    "The year 1999 ended; 2000 began at 00:00:00 UTC.",
    "CamelCaseWords and snake_case_words and kebab-case-words and SCREAMING_CASE.",
    "Mixed CASE wOrDs LiKe tHiS aRe ToKeNiZeD dIfFeReNtLy.",
    "You are a helpful assistant. Answer concisely and accurately.",
    "Q: How many legs does a spider have?\nA: Eight.",
    "Tabs\tbetween\twords\tand a trailing tab\t",
    "Line one.\nLine two.\n\nParagraph two, line one.\n",
    "Windows line endings\r\nare here\r\n\r\nand here.",
    "An em dash — and an en dash – and a hyphen - and a minus −.",
    "“Smart quotes” and ‘single ones’ and «guillemets».",
    "Ellipsis… bullet • dagger † section § pilcrow ¶ degree 30°C.",
    "Trademark™ copyright© registered® ½ ¼ ¾",
    "naïve café résumé coöperate façade jalapeño",
    "the the the the the the the the the the",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "A",
    "?",
    "'s",
    "'",
    "x'S y'T z'Re w'VE m'M l'LL d'D",
    "O'Brien's dog's bone's owner's house",
    "Don’t use curly apostrophes’ in contractions’s place.",
    "Supercalifragilisticexpialidocious is a word.",
    "pre-trained, state-of-the-art, end-to-end, out-of-the-box",
    "@mention #hashtag $dollar %percent ^caret &ampersand *asterisk",
    "~tilde `backtick` |pipe| \\backslash\\ /slash/ <angle> =equals= +plus+",
    "Hello, World! Hello, World! Hello, World!",
]

SCRIPTS = [
    "你好，世界！今天天气很好。",
    "我喜欢学习机器学习和自然语言处理。",
    "日本語のテキストをトークン化します。",
    "こんにちは、世界！カタカナとひらがな。",
    "한국어 텍스트를 토큰화합니다. 안녕하세요!",
    "繁體中文與简体中文混合 mixed with English words.",
    "数字123和漢字混在一起：第3章第12节",
    "全角ＡＢＣ１２３\u3000全角スペース",
    "مرحبا بالعالم! كيف حالك اليوم؟",
    "اللغة العربية جميلة والأرقام ١٢٣٤٥",
    "شكرًا جزيلًا، مَعَ التَّشْكِيل",
    "שלום עולם! זו שפה עברית.",
    "नमस्ते दुनिया! हिन्दी भाषा सुंदर है।",
    "मैं भारत से हूँ। १२३ अंक",
    "কেমন আছেন? আমি ভালো আছি।",
    "வணக்கம் உலகம்",
    "Привет, мир! Как дела? Ёжик в тумане.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Українська мова: їжак, ґанок, єдність.",
    "МОСКВА и Санкт-Петербург 2024 года",
    "Ελληνικά: Γειά σου Κόσμε! αβγδε",
    "สวัสดีครับ ภาษาไทยไม่มีช่องว่าง",
    "Tiếng Việt có nhiều dấu: đường phố Hà Nội",
    "Türkçe: İstanbul ışık çiçek ğuğuş",
    "Straße, Größe, äöü ÄÖÜ ẞ",
    "Polski: żółw, łódź, ścieżka. Čeština: řešení.",
    "ქართული հայերեն አማርኛ",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 (decomposed) vs é à ö ñ (composed)",
    "Zalgo: h\u0334\u0311e\u0335\u0301l\u0336\u0308l\u0337\u0303o\u0338\u0300",
    "Math letters: 𝕳𝖆𝖇 𝟙𝟚𝟛 ℂℕℝ",
]

EMOJI = [
    "I love pizza 🍕 and coffee ☕!",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "👩\u200d💻👨\u200d🔬🧑\u200d🚀",
    "👍\U0001f3fb 👍\U0001f3fc 👍\U0001f3fd 👍\U0001f3fe 👍\U0001f3ff",
    "🇫🇷 🇯🇵 🇺🇸 flags",
    "❤\ufe0f ❤ ☺\ufe0f keycap 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "🏳\ufe0f\u200d🌈 🏴\u200d☠\ufe0f",
    "😀😃😄😁😆😅😂🤣",
    "emoji between words: foo🔥bar 🚀baz",
    "🧑\U0001f3fd\u200d🤝\u200d🧑\U0001f3fb",
    "🐱\u200d👤 🐕\u200d🦺",
    "Done ✅ Failed ❌ Warning ⚠\ufe0f",
]

CODE = [
    "def add(a, b):\n    return a + b\n",
    "import numpy as np\n\nx = np.zeros((3, 4), dtype=np.float32)\nprint(x.shape)\n",
    "class Foo:\n    def __init__(self):\n        self._x = None  # private\n\n    @property\n    def x(self):\n        return self._x\n",
    "for (let i = 0; i < n; i++) {\n\tconsole.log(`item ${i}`);\n}\n",
    "#include <stdio.h>\nint main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}\n",
    "{\"name\": \"minfer\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"wasm\"], \"ok\": true}",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "$ ls -la ~/.cache | grep -v '^d' > out.txt 2>&1 && echo done",
    "re.compile(r\"^(?P<key>[a-z_]+)\\s*=\\s*(?P<val>.*)$\")",
    "<html><body><h1>Title</h1><p>Some <b>bold</b> and <i>italic</i> text.</p></body></html>",
    "<table><tr><td>1</td><td>2</td></tr></table>",
    "<div class=\"x\"><span>hi</span></div> <s>struck</s> <code>x = 1</code>",
    "# Heading\n\n- item one\n- item two\n\n```python\nprint('hi')\n```\n",
    "fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u8> = vec![1, 2, 3];\n    Ok(())\n}",
    "if x != y && (a || !b) { return *p->next; } // comment\n/* block */",
    "lambda x: x**2 + 3*x - 1 if x > 0 else -x",
    "        deeply\n                indented\n                        code",
    "\t\tdef f():\n\t\t\tpass\n",
    "a==b!=c<=d>=e->f=>g::h...i",
    "0x1F 0b1010 0o777 1e-10 3.14159f 1_000_000",
    "<p>one</p> </p> <ol><li>x</li> </ol> a > </x> b",
    "List<int> </int> Map<K, V> x->y >> z",
]

NUMBERS = [
    "1234567890",
    "12345678901234567890123456789012345678901234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "The total is $1,234,567.89 (USD) or €1.234.567,89.",
    "Call +1 (555) 123-4567 or 555.987.6543",
    "Dates: 2024-01-15, 15/01/2024, Jan 15th 2024, 1/15/24",
    "Version 1.2.3-beta.4+build.567",
    "IPv4 192.168.0.1 and IPv6 2001:0db8:85a3::8a2e:0370:7334",
    "١٢٣٤٥ १२३ １２３ ①②③ ²³ ⅓ Ⅻ",
    "99 bottles, 100%, 1st 2nd 3rd 4th, 10km, 5kg, 37.5°C",
    "a1b2c3d4e5 x86_64 arm64 H2O CO2 mp3 mp4 3D 4K",
    "-42 +42 4-2 4+2 4*2 4/2 4^2 4%2 (4) [4] {4}",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
    "000000000000 111111111111 999999999999",
    "一二三四五六七八九十 〇",
]

WHITESPACE = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    " \n ",
    "  leading spaces",
    "trailing spaces  ",
    "   both sides   ",
    " x",
    "x ",
    "a  b   c    d     e      f",
    "a\tb\t\tc\t\t\td",
    "a\nb\n\nc\n\n\nd",
    "spaces then newline   \n   then more",
    "tab then space \t then space tab \t",
    "\xa0non-breaking\xa0spaces\xa0",
    "\u3000ideographic\u3000space\u3000",
    "em\u2003space thin\u2009space hair\u200aspace narrow\u202fspace",
    "vertical\x0btab form\x0cfeed next\x85line",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "file\x1cgroup\x1drecord\x1eunit\x1fseparators",
    "control\x00\x01\x07\x1b[0mchars\x7f",
    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
    " \t \t \t\n \t\n\t \n",
]
WHITESPACE += [" " * n + "x" + " " * n for n in (2, 5, 8, 15, 16, 17, 30, 31, 32, 33, 40, 63, 64, 100)]
WHITESPACE += ["word" + " " * n + "word" for n in (2, 3, 4, 7, 31, 32, 45)]

SPECIAL_LOOKING = [
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nhello<end_of_turn>",
    "text<|endoftext|>more text<|endoftext|>",
    "<|im_end|><|im_end|><|im_end|>",
    "< |im_end| > <|im_end > <im_end> |im_end|",
    "<|im_",
    "<end_of_turn",
    "end_of_turn>",
    "<eos> <pad> <unk> <mask> </s> <s>",
    "<unused0> <unused12> <unused99>",
    "[multimodal] <start_of_image> <end_of_image>",
    "<repo_name>minfer<file_sep>main.py<filename>x.py<gh_stars>10",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "[INST] Hello [/INST] <<SYS>> system <</SYS>>",
    "<|endoftext|>",
    "<|im_start|>",
    "  <|im_start|>  user  <|im_end|>  ",
    "<end_of_turn>\n<end_of_turn>\n\n<end_of_turn>   ",
    "<b>bold</b><i>it</i><u>u</u><sub>2</sub><sup>3</sup>",
    "<h1><h2><h3>nested</h3></h2></h1>",
    "<<|im_start|>>",
    "<|im_start|<|im_end|>|>",
]

URLS = [
    "https://www.example.com/path/to/page?query=1&lang=en#section-2",
    "Visit http://localhost:8000/index.html or https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "ftp://files.example.org/pub/README.txt",
    "mailto:someone@example.com, first.last+tag@sub.domain.co.uk",
    "C:\\Users\\Admin\\Documents\\file (1).txt",
    "/usr/local/lib/python3.11/site-packages/numpy/__init__.py",
    "~/.cache/minfer-wasm/models/gemma-3-270m-q4_k_m.gguf",
    "https://example.com/üñîçødé/路径?q=тест",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "git@github.com:ggml-org/llama.cpp.git",
]

LONG_WORDS = [
    "a" * 500,
    "ab" * 300,
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 5,
    "antidisestablishmentarianism" * 10,
    "x" * 1000 + "y",
    "9" * 300,
    "中" * 200,
    "😀" * 100,
    "-" * 200,
    "=" * 80 + "\n" + "#" * 80,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    "HelloWorldThisIsAVeryLongCamelCaseIdentifierThatKeepsGoingAndGoingAndGoing",
    "नमस्ते" * 50,
    "Супердлинноеслово" * 20,
]

DOCUMENTS = [
    (
        "Machine learning is a field of study in artificial intelligence concerned with the "
        "development and study of statistical algorithms that can learn from data and generalize "
        "to unseen data, and thus perform tasks without explicit instructions. Within a subdiscipline "
        "in machine learning, advances in the field of deep learning have allowed neural networks "
        "to surpass many previous approaches in performance.\n\nML finds application in many fields, "
        "including natural language processing, computer vision, speech recognition, email filtering, "
        "agriculture, and medicine. The application of ML to business problems is known as "
        "predictive analytics.\n"
    ),
    (
        "## Installation\n\n```sh\npip install minfer-wasm\nminfer-wasm generate --prompt \"Hi\"\n```\n\n"
        "| Model | Size | Speed |\n|-------|------|-------|\n| SmolLM2 | 135M | 10 tok/s |\n"
        "| Gemma 3 | 270M | 5 tok/s |\n\n> **Note:** numbers are approximate.\n"
    ),
    (
        "在计算机科学中，分词是将文本切分为"
        "词元的过程。Tokenization splits text into tokens. "
        "トークン化は重要です。 토큰화는 "
        "중요합니다. Токенизация "
        "важна. التجزئة مهمة. "
        "🤖✨\n"
    ),
]

# Character pools for the seeded random mixtures: every class the split patterns tell apart.
_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " ", "  ", "\t", "\n", "\r\n", "   \n",
    "'s", "'t", "'re", "'LL", "'D", "'",
    ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~`\"",
    "éñüßçœøå",
    "中文字日本語한국",
    "مرحبا١٢",
    "नमस्ते१",
    "ПриветЁ",
    "\u0301\u0308\u0303\u20e3\ufe0f\u200d",
    "😀👨👩\U0001f3fd🇫❤",
    "½²①Ⅻ１०",
    "\xa0\u3000\u2003\x0b\x0c\x85\x1c",
    "ǅᾈʰˆªº",
    "<|im_end|>", "<end_of_turn>", "<b>", "</s>",
]


def random_mixtures(count: int, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(3, 30)):
            pool = rng.choice(_POOLS)
            parts.append(pool if len(pool) > 8 and pool.startswith("<") else
                         "".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        texts.append("".join(parts))
    return texts


def corpus() -> list[dict]:
    kinds = {"english": ENGLISH, "scripts": SCRIPTS, "emoji": EMOJI, "code": CODE,
             "numbers": NUMBERS, "whitespace": WHITESPACE, "special": SPECIAL_LOOKING,
             "urls": URLS, "long": LONG_WORDS, "document": DOCUMENTS}
    entries = [{"kind": kind, "text": text} for kind, texts in kinds.items() for text in texts]
    # Leading/trailing whitespace variants of a spread of the texts above.
    for i, base in enumerate(ENGLISH[:12] + SCRIPTS[:8] + CODE[:4] + EMOJI[:4]):
        pad = [" ", "  ", "\n", " \t", "   "][i % 5]
        entries.append({"kind": "padded", "text": pad + base + pad[::-1]})
    entries += [{"kind": "random", "text": t} for t in random_mixtures(60)]
    return entries


def main() -> None:
    entries = corpus()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"about": __doc__.strip().splitlines()[0], "texts": entries},
                              ensure_ascii=True, indent=1) + "\n")
    print(f"wrote {len(entries)} texts to {OUT}")


if __name__ == "__main__":
    main()
