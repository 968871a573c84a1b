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
    "An em dash \u2014 and an en dash \u2013 and a hyphen - and a minus \u2212.",
    "\u201cSmart quotes\u201d and \u2018single ones\u2019 and \u00abguillemets\u00bb.",
    "Ellipsis\u2026 bullet \u2022 dagger \u2020 section \u00a7 pilcrow \u00b6 degree 30\u00b0C.",
    "Trademark\u2122 copyright\u00a9 registered\u00ae \u00bd \u00bc \u00be",
    "naïve café résumé coöperate façade jalapeño",
    "the the the the the the the the the the",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "A",
    "?",
    "'s",
    "'",
    "x'S y'T z'Re w'VE m'M l'LL d'D",
    "O'Brien's dog's bone's owner's house",
    "Don\u2019t use curly apostrophes\u2019 in contractions\u2019s place.",
    "Supercalifragilisticexpialidocious is a word.",
    "pre-trained, state-of-the-art, end-to-end, out-of-the-box",
    "@mention #hashtag $dollar %percent ^caret &ampersand *asterisk",
    "~tilde `backtick` |pipe| \\backslash\\ /slash/ <angle> =equals= +plus+",
    "Hello, World! Hello, World! Hello, World!",
]

SCRIPTS = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002",
    "\u6211\u559c\u6b22\u5b66\u4e60\u673a\u5668\u5b66\u4e60\u548c\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3092\u30c8\u30fc\u30af\u30f3\u5316\u3057\u307e\u3059\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\ub97c \ud1a0\ud070\ud654\ud569\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
    "\u7e41\u9ad4\u4e2d\u6587\u8207\u7b80\u4f53\u4e2d\u6587\u6df7\u5408 mixed with English words.",
    "\u6570\u5b57123\u548c\u6f22\u5b57\u6df7\u5728\u4e00\u8d77\uff1a\u7b2c3\u7ae0\u7b2c12\u8282",
    "\u5168\u89d2\uff21\uff22\uff23\uff11\uff12\uff13\u3000\u5168\u89d2\u30b9\u30da\u30fc\u30b9",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0643\u064a\u0641 \u062d\u0627\u0644\u0643 \u0627\u0644\u064a\u0648\u0645\u061f",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629 \u0648\u0627\u0644\u0623\u0631\u0642\u0627\u0645 \u0661\u0662\u0663\u0664\u0665",
    "\u0634\u0643\u0631\u064b\u0627 \u062c\u0632\u064a\u0644\u064b\u0627\u060c \u0645\u064e\u0639\u064e \u0627\u0644\u062a\u0651\u064e\u0634\u0652\u0643\u0650\u064a\u0644",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd! \u05d6\u05d5 \u05e9\u05e4\u05d4 \u05e2\u05d1\u05e8\u05d9\u05ea.",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e! \u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0938\u0941\u0902\u0926\u0930 \u0939\u0948\u0964",
    "\u092e\u0948\u0902 \u092d\u093e\u0930\u0924 \u0938\u0947 \u0939\u0942\u0901\u0964 \u0967\u0968\u0969 \u0905\u0902\u0915",
    "\u0995\u09c7\u09ae\u09a8 \u0986\u099b\u09c7\u09a8? \u0986\u09ae\u09bf \u09ad\u09be\u09b2\u09cb \u0986\u099b\u09bf\u0964",
    "\u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd \u0b89\u0bb2\u0b95\u0bae\u0bcd",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430? \u0401\u0436\u0438\u043a \u0432 \u0442\u0443\u043c\u0430\u043d\u0435.",
    "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a, \u0434\u0430 \u0432\u044b\u043f\u0435\u0439 \u0447\u0430\u044e.",
    "\u0423\u043a\u0440\u0430\u0457\u043d\u0441\u044c\u043a\u0430 \u043c\u043e\u0432\u0430: \u0457\u0436\u0430\u043a, \u0491\u0430\u043d\u043e\u043a, \u0454\u0434\u043d\u0456\u0441\u0442\u044c.",
    "\u041c\u041e\u0421\u041a\u0412\u0410 \u0438 \u0421\u0430\u043d\u043a\u0442-\u041f\u0435\u0442\u0435\u0440\u0431\u0443\u0440\u0433 2024 \u0433\u043e\u0434\u0430",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5! \u03b1\u03b2\u03b3\u03b4\u03b5",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e44\u0e21\u0e48\u0e21\u0e35\u0e0a\u0e48\u0e2d\u0e07\u0e27\u0e48\u0e32\u0e07",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u: \u0111\u01b0\u1eddng ph\u1ed1 H\u00e0 N\u1ed9i",
    "T\u00fcrk\u00e7e: \u0130stanbul \u0131\u015f\u0131k \u00e7i\u00e7ek \u011fu\u011fu\u015f",
    "Stra\u00dfe, Gr\u00f6\u00dfe, \u00e4\u00f6\u00fc \u00c4\u00d6\u00dc \u1e9e",
    "Polski: \u017c\u00f3\u0142w, \u0142\u00f3d\u017a, \u015bcie\u017cka. \u010ce\u0161tina: \u0159e\u0161en\u00ed.",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 \u0570\u0561\u0575\u0565\u0580\u0565\u0576 \u12a0\u121b\u122d\u129b",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 (decomposed) vs \u00e9 \u00e0 \u00f6 \u00f1 (composed)",
    "Zalgo: h\u0334\u0311e\u0335\u0301l\u0336\u0308l\u0337\u0303o\u0338\u0300",
    "Math letters: \U0001d573\U0001d586\U0001d587 \U0001d7d9\U0001d7da\U0001d7db \u2102\u2115\u211d",
]

EMOJI = [
    "I love pizza \U0001f355 and coffee \u2615!",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f469\u200d\U0001f4bb\U0001f468\u200d\U0001f52c\U0001f9d1\u200d\U0001f680",
    "\U0001f44d\U0001f3fb \U0001f44d\U0001f3fc \U0001f44d\U0001f3fd \U0001f44d\U0001f3fe \U0001f44d\U0001f3ff",
    "\U0001f1eb\U0001f1f7 \U0001f1ef\U0001f1f5 \U0001f1fa\U0001f1f8 flags",
    "\u2764\ufe0f \u2764 \u263a\ufe0f keycap 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f3f4\u200d\u2620\ufe0f",
    "\U0001f600\U0001f603\U0001f604\U0001f601\U0001f606\U0001f605\U0001f602\U0001f923",
    "emoji between words: foo\U0001f525bar \U0001f680baz",
    "\U0001f9d1\U0001f3fd\u200d\U0001f91d\u200d\U0001f9d1\U0001f3fb",
    "\U0001f431\u200d\U0001f464 \U0001f415\u200d\U0001f9ba",
    "Done \u2705 Failed \u274c Warning \u26a0\ufe0f",
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
]

NUMBERS = [
    "1234567890",
    "12345678901234567890123456789012345678901234567890",
    "3.14159265358979323846264338327950288419716939937510",
    "The total is $1,234,567.89 (USD) or \u20ac1.234.567,89.",
    "Call +1 (555) 123-4567 or 555.987.6543",
    "Dates: 2024-01-15, 15/01/2024, Jan 15th 2024, 1/15/24",
    "Version 1.2.3-beta.4+build.567",
    "IPv4 192.168.0.1 and IPv6 2001:0db8:85a3::8a2e:0370:7334",
    "\u0661\u0662\u0663\u0664\u0665 \u0967\u0968\u0969 \uff11\uff12\uff13 \u2460\u2461\u2462 \u00b2\u00b3 \u2153 \u216b",
    "99 bottles, 100%, 1st 2nd 3rd 4th, 10km, 5kg, 37.5\u00b0C",
    "a1b2c3d4e5 x86_64 arm64 H2O CO2 mp3 mp4 3D 4K",
    "-42 +42 4-2 4+2 4*2 4/2 4^2 4%2 (4) [4] {4}",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15",
    "000000000000 111111111111 999999999999",
    "\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d\u5341 \u3007",
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
    "\u00a0non-breaking\u00a0spaces\u00a0",
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
    "https://example.com/\u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9/\u8def\u5f84?q=\u0442\u0435\u0441\u0442",
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
    "\u4e2d" * 200,
    "\U0001f600" * 100,
    "-" * 200,
    "=" * 80 + "\n" + "#" * 80,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
    "HelloWorldThisIsAVeryLongCamelCaseIdentifierThatKeepsGoingAndGoingAndGoing",
    "\u0928\u092e\u0938\u094d\u0924\u0947" * 50,
    "\u0421\u0443\u043f\u0435\u0440\u0434\u043b\u0438\u043d\u043d\u043e\u0435\u0441\u043b\u043e\u0432\u043e" * 20,
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
        "\u5728\u8ba1\u7b97\u673a\u79d1\u5b66\u4e2d\uff0c\u5206\u8bcd\u662f\u5c06\u6587\u672c\u5207\u5206\u4e3a"
        "\u8bcd\u5143\u7684\u8fc7\u7a0b\u3002Tokenization splits text into tokens. "
        "\u30c8\u30fc\u30af\u30f3\u5316\u306f\u91cd\u8981\u3067\u3059\u3002 \ud1a0\ud070\ud654\ub294 "
        "\uc911\uc694\ud569\ub2c8\ub2e4. \u0422\u043e\u043a\u0435\u043d\u0438\u0437\u0430\u0446\u0438\u044f "
        "\u0432\u0430\u0436\u043d\u0430. \u0627\u0644\u062a\u062c\u0632\u0626\u0629 \u0645\u0647\u0645\u0629. "
        "\U0001f916\u2728\n"
    ),
]

# Character pools for the seeded random mixtures: every class the split patterns tell apart.
_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " ", "  ", "\t", "\n", "\r\n", "   \n",
    "'s", "'t", "'re", "'LL", "'D", "'",
    ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~`\"",
    "\u00e9\u00f1\u00fc\u00df\u00e7\u0153\u00f8\u00e5",
    "\u4e2d\u6587\u5b57\u65e5\u672c\u8a9e\ud55c\uad6d",
    "\u0645\u0631\u062d\u0628\u0627\u0661\u0662",
    "\u0928\u092e\u0938\u094d\u0924\u0947\u0967",
    "\u041f\u0440\u0438\u0432\u0435\u0442\u0401",
    "\u0301\u0308\u0303\u20e3\ufe0f\u200d",
    "\U0001f600\U0001f468\U0001f469\U0001f3fd\U0001f1eb\u2764",
    "\u00bd\u00b2\u2460\u216b\uff11\u0966",
    "\u00a0\u3000\u2003\x0b\x0c\x85\x1c",
    "\u01c5\u1f88\u02b0\u02c6\u00aa\u00ba",
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
