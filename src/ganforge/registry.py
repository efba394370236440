"""Small name -> builder registries (generators, discriminators, losses).

A registry is a dict, a decorator and ``names()``; nothing else. Networks also
declare a typed options dataclass (or take their options as keyword arguments)
so that an unknown or mistyped option is an error naming the key and the valid
keys.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from .errors import GanforgeError, did_you_mean, raised_at

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered builder, (optionally) the dataclass of its options, and ``source``: the user's definition
    it comes from (the builder itself, or for ``register_loss`` the loss's first term)."""

    name: str
    builder: Callable[..., T]
    options: type | None = None
    source: Any = None

    @property
    def origin(self) -> str:
        """The module that defined it (``__main__`` for a notebook's cell or a script): whether a run can
        rebuild it, and whether registering the name again is that module run again."""
        return getattr(self.source, "__module__", "") or ""


class Registry(Generic[T]):
    """Maps names to builders.

    Args:
        kind: what the registry holds, used in error messages ("generator").
        gives: the keyword arguments ganforge builds each entry with (a network's sizes), and the config key that
            sets each. Where given (an empty dict for none), an entry registered without an options dataclass takes
            its builder's other keyword arguments as its options, as MMagic's config passes a module's own
            (``dict(type='MyG', hidden=256)``).
    """

    def __init__(self, kind: str, gives: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.gives = gives
        self._entries: dict[str, Entry[T]] = {}
        # casefolded other name -> (registered name, whose name, what else to set)
        self._known_as: dict[str, tuple[str, str, str]] = {}

    def known_as(self, name: str, also: str = "", **others: str) -> None:
        """Say that the registered ``name`` is what others call each key of ``others`` (whose name it is as the
        value, or "" for a name in common use: ``known_as("mmagic-dcgan", DCGANGenerator="MMagic's")``): a config
        that names one of them is told which to write, and ``also`` what else to set with it (WGAN-GP's penalty).
        They are not accepted silently, since each is another's code, not ganforge's."""
        for other, whose in others.items():
            self._known_as[other.casefold()] = (name, whose, also)

    def register(self, name: str, options: type | None = None,
                 source: Any = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``builder`` under ``name`` with an options dataclass. ``source`` is the user's
        definition it comes from, when that is not the builder itself (``register_loss`` registers a lambda of
        its own): errors name where it is defined, and its module decides what may register the name again."""

        if options is not None and not (isinstance(options, type) and dataclasses.is_dataclass(options)):
            # checked here, at the plugin's import, not when a config's options are first parsed
            raise GanforgeError(f"{self.kind} '{name}' is registered with options {options!r}, which is not a "
                                "dataclass; pass a @dataclass(frozen=True) class of its options, or None for none.")

        def deco(builder: Callable[..., T]) -> Callable[..., T]:
            old, new = self._entries.get(name), Entry(name, builder, options, builder if source is None else source)
            # a registration from the module that made the first replaces it, as Python's own redefinition does: a
            # notebook cell run again (its lambdas are new objects; its class may have been renamed), or a plugin
            # file imported again after an edit
            if old is not None and old.builder is not builder and old.origin != new.origin:
                first, second = defined_at(old.source), defined_at(new.source)
                same_file = first.rsplit(":", 1)[0] == second.rsplit(":", 1)[0]
                # one file imported under two names (plugins = ["pkg.nets", "pkg/nets.py"]) defines it twice
                fix = ("list that file once in plugins (by module name or by path, not both)" if same_file
                       else "pick another name for one of them")
                raise GanforgeError(f"{self.kind} '{name}' is registered twice ({first}, then {second}); {fix}.")
            self._entries[name] = new
            return builder

        return deco

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Entry[T]:
        """The entry for ``name``; the error lists what is registered."""
        if name not in self._entries:
            ours, whose, also = self._known_as.get(name.casefold(), (None, "", ""))
            called = f"{whose} {name}" if whose else f"'{name}'"  # whose: "MMagic's"; none for a common name
            hint = f" {called} is '{ours}' here{also}." if ours else did_you_mean(name, self._entries)
            raise GanforgeError(
                f"unknown {self.kind} '{name}'.{hint} "
                f"Registered {self.kind}{'es' if self.kind.endswith('s') else 's'}: "
                f"{', '.join(self.names()) or 'none; a plugin registers one'}."
            )
        return self._entries[name]

    def parse(self, name: str, options: dict[str, Any] | None, where: str = "") -> Any:
        """``options`` for ``name`` as its options dataclass, type-checked. For an entry registered without one:
        in a registry that ``gives`` (networks, hooks), the options as its builder's keyword arguments
        (:func:`keyword_options`), None where none are given; in another, None, as it takes no options. ``where`` names it in errors (default:
        "generator 'x'")."""
        entry = self.get(name)
        where = where or f"{self.kind} '{name}'"
        if entry.options is None:
            if options and self.gives is not None:
                return keyword_options(entry.builder, options, self.gives, where)
            if options:
                raise GanforgeError(f"{where} takes no options, got {sorted(options)}.")
            return None
        return parse_options(entry.options, options or {}, where)

    def build(self, name: str, options: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> T:
        """Build ``name``; ``options`` are checked against its options dataclass.

        A builder that rejects well-typed but impossible options the way torch does (a
        negative width gives ``RuntimeError: ... negative dimension``) gets a GanforgeError
        naming the builder and the options, so the CLI reports bad input instead of a traceback;
        so does a builder whose signature does not take the arguments ganforge passes.
        """
        entry = self.get(name)
        parsed = self.parse(name, options)
        try:
            if entry.options is None:  # its options, if any, are keyword arguments (``keyword_options``)
                return entry.builder(*args, **(parsed or {}), **kwargs)
            return entry.builder(*args, parsed, **kwargs)
        except (RuntimeError, ValueError) as e:
            # the sizes it is built for count too: a model.z_dim of 10**9 asks for a 512 GB first layer
            sizes = ", ".join(f"{k}={v}" for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool))
            raise GanforgeError(f"{self.kind} '{name}' cannot be built with options {options or {}}"
                                f"{f' for {sizes}' if sizes else ''}: {e}. Check those values (widths and sizes must "
                                "be positive).") from e
        except TypeError as e:
            if not raised_at(e).startswith(__file__):
                raise  # raised inside the builder: its traceback shows where
            # raised at the call: the builder's signature does not take what ganforge passes (seed 004's
            # modules take their own keyword arguments), so say what it is called with
            given = ", ".join([f"<{len(args)} arguments>"] * bool(args) + ["options"] * (entry.options is not None)
                              + [f"{k}=..." for k in kwargs])
            where = defined_at(entry.builder)
            raise GanforgeError(f"{self.kind} '{name}' cannot be built: TypeError: {e} ({where}). "
                                f"ganforge calls it as {name}({given}), so its __init__ must take those "
                                f"{'keyword ' * (not args)}arguments (add **kwargs for any it does not use).") from None


def require_built(built: Any, expected: type, what: str, fix: str, expected_name: str = "") -> Any:
    """``built`` if the registered builder made an ``expected`` (``collections.abc.Callable`` for a function), else
    an error naming ``what`` and how to ``fix`` it: a plugin's builder may return its network, a function or a
    number instead, which would fail later, deep in ganforge's own code."""
    if not isinstance(built, expected):
        raise GanforgeError(f"{what} is built as a '{type(built).__name__}', not "
                            f"{expected_name or 'a ' + expected.__name__}; {fix}")
    return built


def defined_at(obj: Any) -> str:
    """``file:line`` of a class's or function's definition, for an error message."""
    import inspect

    try:
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    except (OSError, TypeError):  # defined in a REPL or built in
        return getattr(obj, "__qualname__", repr(obj))


def parse_options(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build the options dataclass ``cls`` from a dict, type-checking each key."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise GanforgeError(
                f"unknown option '{key}' for {where}.{did_you_mean(key, fields)} Valid options: {', '.join(fields)}."
            )
        kwargs[key] = _coerce(value, hints[key], f"{where} option '{key}'")
    missing = [name for name, f in fields.items() if name not in kwargs and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise GanforgeError(f"{where} needs option{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}, which "
                            "its options dataclass gives no default; set it in the config's options table.")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # the dataclass's own __post_init__ check of a value
        raise GanforgeError(f"{where} refused its options {values}: {e} ({raised_at(e)})") from None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def keyword_options(builder: Callable[..., Any], values: dict[str, Any], gives: dict[str, str],
                    where: str) -> dict[str, Any]:
    """``values`` as keyword arguments of ``builder`` (a class or function registered without an options dataclass):
    each must name one of its parameters other than those ganforge ``gives``, and is checked against the
    parameter's annotation, or else its default's type (a parameter with neither takes any value)."""
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):  # a builtin without a signature: nothing to name
        params = {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes = {n: p for n, p in params.items() if p.kind in kinds and n not in gives}
    if not takes:
        given = ", ".join(n for n in params if n in gives)
        raise GanforgeError(f"{where} takes no options, got {sorted(values)}: its __init__ takes no keyword argument"
                            f"{f' but those ganforge gives ({given})' if given else ''}; add one with a default to set "
                            "it here, or register it with an options dataclass.")
    try:  # a class's annotations are its __init__'s; a name the plugin never imported leaves that one unchecked
        hints = typing.get_type_hints(builder.__init__ if isinstance(builder, type) else builder)
    except Exception:
        hints = {}
    parsed = {}
    for key, value in values.items():
        if key in gives:
            raise GanforgeError(f"{where} option '{key}' is ganforge's to give: every network is built with "
                                f"{gives[key]}; set that instead.")
        if key not in takes:
            raise GanforgeError(f"unknown option '{key}' for {where}.{did_you_mean(key, takes)} Valid options "
                                f"(its __init__'s keyword arguments): {', '.join(takes)}.")
        default = takes[key].default
        tp = hints.get(key, type(default) if default is not inspect.Parameter.empty else None)
        checked = tp in (bool, int, float, str) or typing.get_origin(tp) is tuple
        parsed[key] = _coerce(value, tp, f"{where} option '{key}'") if checked else value
    return parsed


def _coerce(value: Any, tp: Any, where: str) -> Any:
    from .config import coerce  # config imports registry lazily too; avoid a cycle

    return coerce(value, tp, where)


# what ganforge builds every network with (nets._build), and the config key that sets each
NETWORK_ARGS = {"z_dim": "model.z_dim", "channels": "data.channels", "resolution": "data.resolution",
                "scale": "sr.scale", "num_classes": "model.num_classes"}
GENERATORS: Registry = Registry("generator", NETWORK_ARGS)
DISCRIMINATORS: Registry = Registry("discriminator", NETWORK_ARGS)
LOSSES: Registry = Registry("loss")
OBJECTIVES: Registry = Registry("objective")  # GAN algorithms: GANObjective and its subclasses
PIXEL_LOSSES: Registry = Registry("pixel loss")
PERCEPTUAL_NETS: Registry = Registry("perceptual network")
HOOKS: Registry = Registry("hook", {})  # a user's training.hooks.Hook subclasses, named in a config's hooks list
