"""How every command reads its command line: errors that name what the user typed, a plain
usage line, and the torch class names as aliases of the layer commands.

``Command`` checks the raw arguments before Click parses them, so that an unknown option
followed by a value (``--num-layers 2``) or a switch given a value (``--bias false``) is
named as typed instead of surfacing as "unexpected extra argument". ``Group`` resolves
``LSTM``, ``LSTMCell``, ``lstm_cell`` to the ``lstm``/``lstm-cell`` commands without a
hidden command per alias (nothing more to build at start-up, nothing more in ``--help``).

Both show help text as written: Typer reads it as Rich markup, where ``rnnshape[onnx]`` or
``[lstm]`` would vanish as a style tag, so it is escaped once, when a help screen is drawn
(Rich is loaded then anyway; the commands themselves never import it). ``-h`` is ``--help``.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from typer.core import TyperCommand, TyperGroup

from rnnshape.cli.exits import ClosedPipe

if TYPE_CHECKING:
    import typer

# Every command's help options (the app's context settings; subcommands inherit them).
HELP_OPTIONS = ["-h", "--help"]

# Words that mean on or off: after a switch they are a value the switch does not take.
_SWITCH_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "t", "f"})
_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _option_names(command: Any, ctx: typer.Context) -> tuple[dict[str, Any], list[Any]]:
    """Every option spelling of ``command`` to its parameter, and its arguments in order."""
    options: dict[str, Any] = {}
    arguments = []
    for param in command.params:
        if param.param_type_name == "argument":
            arguments.append(param)
        else:
            for name in (*param.opts, *param.secondary_opts):
                options[name] = param
    for name in ctx.help_option_names:
        options.setdefault(name, None)
    return options, arguments


def _switch_spelling(param: Any) -> str:
    """``--bias``/``--no-bias``, or ``--bidirectional``."""
    return "/".join((*param.opts, *param.secondary_opts))


def check_arguments(command: Any, ctx: typer.Context, args: list[str]) -> None:
    """Fail with a message naming the token as typed: an unknown option (with the argument
    of that name, if there is one) or a switch given a value."""
    options, arguments = _option_names(command, ctx)
    hidden = {name for name, p in options.items() if p is not None and p.hidden}
    for i, token in enumerate(args):
        if token == "--":
            return
        if not token.startswith("--"):
            continue
        name, has_value, _ = token.partition("=")
        following = args[i + 1] if i + 1 < len(args) else None
        param = options.get(name, options)  # ``options`` itself: not an option
        if param is options:
            _unknown_option(ctx, name, arguments, options, hidden)
        if param is None:
            continue
        if (
            param.is_flag
            and not param.hidden
            and (has_value or (following is not None and following.lower() in _SWITCH_VALUES))
        ):
            given = token if has_value else f"{token} {following}"
            spelled = _switch_spelling(param)
            how = (
                f"write {' or '.join(param.opts + param.secondary_opts)}"
                if param.secondary_opts
                else f"write {name} to turn it on, leave it out for off"
            )
            ctx.fail(f"{spelled} is a switch and takes no value ({given!r}): {how}")


def _unknown_option(
    ctx: typer.Context,
    name: str,
    arguments: list[Any],
    options: dict[str, Any],
    hidden: set[str],
) -> None:
    message = f"no such option: {name}"
    wanted = name.removeprefix("--").replace("-", "_").upper()
    for position, argument in enumerate(arguments):
        if argument.hidden:
            continue
        metavar = argument.metavar or argument.name.upper()
        if metavar.strip("[]{}.").upper() == wanted:
            ordinal = _ORDINALS[position] if position < len(_ORDINALS) else f"#{position + 1}"
            usage = " ".join(_usage(arguments))
            ctx.fail(
                f"{message}; {metavar} is the {ordinal} argument, given without a flag "
                f"({ctx.command_path} {usage})"
            )
    visible = [n for n in options if n not in hidden and n.startswith("--")]
    matches = get_close_matches(name, visible, n=2)
    if matches:
        message += f"; did you mean {' or '.join(matches)}?"
    ctx.fail(message)


def _usage(arguments: list[Any]) -> list[str]:
    pieces = []
    for argument in arguments:
        if argument.hidden:
            continue
        metavar = argument.metavar or argument.name.upper()
        optional = not argument.required and not metavar.startswith("[")
        pieces.append(f"[{metavar}]" if optional else metavar)
    return pieces


def escape_help(command: Any) -> None:
    """Make ``command``'s help, epilog and options' help show literally (once per object)."""
    from rich.markup import escape

    for item in (command, *command.params):
        if getattr(item, "_help_escaped", False):
            continue
        for attribute in ("help", "short_help", "epilog"):
            text = getattr(item, attribute, None)
            if isinstance(text, str):
                setattr(item, attribute, escape(text))
        item._help_escaped = True


def _parse(parse: Any, ctx: typer.Context, args: list[str]) -> list[str]:
    """Click's parsing, which prints ``--help`` (an eager option's callback) on the way."""
    try:
        parsed: list[str] = parse(ctx, args)
    except BrokenPipeError:  # ``rnnshape --help | true``: see exits.main
        raise ClosedPipe from None
    except SystemExit as exc:
        # Rich's own answer to a broken pipe while it prints the help (stdout already points
        # at os.devnull); nothing else raises SystemExit while parsing (Click raises Exit).
        if exc.code == 1:
            raise ClosedPipe from None
        raise
    return parsed


class Command(TyperCommand):
    """A Typer command whose errors name what was typed and whose usage line reads
    ``INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]`` (Typer writes required arguments as ``{X}``)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if not ctx.resilient_parsing:  # completion parses resiliently: never fail there
            check_arguments(self, ctx, args)
        return _parse(super().parse_args, ctx, args)

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + _usage([p for p in self.params if p.param_type_name == "argument"])

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        escape_help(self)
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    """The root: commands resolve case-insensitively, ``_`` as ``-``, and through
    ``ALIASES`` (``lstmcell`` → ``lstm-cell``), filled when the layer commands register."""

    aliases: dict[str, str] = {}

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        key = cmd_name.lower().replace("_", "-")
        return super().get_command(ctx, self.aliases.get(key, key))

    def resolve_command(  # type: ignore[override]
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        # Usage and errors then say ``rnnshape lstm``, whichever alias was typed.
        return (command.name if command is not None else name), command, rest

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return _parse(super().parse_args, ctx, args)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        for item in (self, *self.commands.values()):  # the commands' help is listed here
            escape_help(item)
        super().format_help(ctx, formatter)
