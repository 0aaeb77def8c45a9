"""How every ``fleetpatch`` command is declared: help with examples and defaults, suggestions.

Each command's parser is a :class:`Parser` (argparse gives subcommands their parent's class),
so all of them show their defaults and answer a mistyped choice with the closest ones.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any, NoReturn

_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)")


def did_you_mean(given: str, known: list[str]) -> str:
    """`` (did you mean X?)`` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(given, known, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


class HelpFormatter(argparse.HelpFormatter):
    """Examples keep their lines; an option's default is shown when it has one worth saying."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # A paragraph with an indented line (examples) is kept as written; prose is filled.
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith("  ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        wrong = _CHOICE.search(message)
        if wrong:
            known = re.findall(r"'([^']*)'", wrong.group("choices"))
            message += did_you_mean(wrong.group("given"), known)
        super().error(message)


def examples(*lines: str) -> str:
    """An epilog of example command lines, each with what it does after ``#``."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)
