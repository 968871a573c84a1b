"""Stop-string hold-back: text that may still become a stop string is never released early."""

from minfer_wasm.generate import _split_held_back


def test_nothing_held_without_stop_strings():
    assert _split_held_back("hello", []) == ("hello", "")


def test_partial_stop_string_is_held():
    assert _split_held_back("answer: 42\nUs", ["\nUser:"]) == ("answer: 42", "\nUs")


def test_longest_partial_match_across_stop_strings():
    assert _split_held_back("x <|e", ["<|end|>", "<|"]) == ("x ", "<|e")


def test_text_that_cannot_start_a_stop_string_is_released():
    assert _split_held_back("abc", ["xyz"]) == ("abc", "")
