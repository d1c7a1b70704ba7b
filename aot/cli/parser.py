"""The argument parser class of every ``aot`` command: a usage error prints the subcommand's short
usage (not every option: ``--help`` lists those), suggests the option or value meant when one is
misspelt, and exits 2; help text keeps indented lines (examples, tables) as written and refills
the rest to the terminal's width."""
from __future__ import annotations

import argparse
import sys
import textwrap
from typing import NoReturn

from ..errors import did_you_mean


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs: lines starting with spaces are kept (examples), the other lines of a
    paragraph are joined and wrapped like argparse's default formatter does."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks: list[str] = []
        words: list[str] = []

        def flush() -> None:
            if words:
                blocks.append(textwrap.fill(" ".join(words), width, initial_indent=indent, subsequent_indent=indent))
                words.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                blocks.append("")
            elif line[0].isspace():
                flush()
                blocks.append(indent + line)
            else:
                words.append(line.strip())
        flush()
        return "\n".join(blocks)


class AotArgumentParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def short_usage(self) -> str:
        """``aot compile MODEL -o OUTPUT [options]``: what must be given, the rest in a word."""
        parts = [self.prog]
        optional = False
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                parts.append(action.metavar or "COMMAND")
            elif not action.option_strings:
                parts.append(action.metavar or action.dest.upper())
            elif action.required:
                parts.append(f"{action.option_strings[0]} {action.metavar or action.dest.upper()}")
            elif action.help != argparse.SUPPRESS:
                optional = True
        return " ".join(parts + (["[options]"] if optional else []))

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"usage: {self.short_usage()}  ('{self.prog} --help' lists every option)\n")
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {', '.join(choices)})."
                                                 f"{did_you_mean(str(value), choices)}")

    def option_names(self) -> list[str]:
        return [s for action in self._actions for s in action.option_strings]

    def unrecognized(self, extras: list[str]) -> NoReturn:
        """Refuse arguments nothing took, suggesting the options that were probably meant."""
        message = f"unrecognized arguments: {' '.join(extras)}"
        for extra in extras:
            option = extra.split("=", 1)[0]
            hint = did_you_mean(option, self.option_names(), 0.75) if option.startswith("-") else ""
            if hint:
                message += f". {option}:{hint}"
        self.error(message)


def subcommand_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of subcommand ``command`` (``parser`` itself when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, but an argument no option takes is reported by its subcommand's parser
    (its usage, its option names), not by the top-level one."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = subcommand_parser(parser, getattr(args, "command", None))
        if isinstance(sub, AotArgumentParser):
            sub.unrecognized(extras)
        sub.error(f"unrecognized arguments: {' '.join(extras)}")
    return args
