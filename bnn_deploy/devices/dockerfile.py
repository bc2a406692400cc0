"""Read the top-level Dockerfile the way ``build-runtime --print-plan`` shows it.

The plan a user reviews (and the tests check) has to come from the Dockerfile that will be built,
not from a second description of it kept in Python, and it has to be available on a machine with
no Docker engine. So this reads the file itself, understanding only what the plan needs: ``FROM
[--platform=P] BASE [AS NAME]``, ``ARG``, ``ENV``, ``RUN`` (its ``--mount`` flags set aside) and
``COPY --from=STAGE``, with comments and line continuations as Docker reads them. BuildKit does the
real parsing when the image builds.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError, first_line


@dataclass
class Stage:
    """One ``FROM`` block: its base (an image or an earlier stage), own ``--platform``, instructions."""

    name: str
    base: str
    platform: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def copies_from(self) -> list[str]:
        """The stages this one copies files out of (``COPY --from=NAME``)."""
        found = []
        for keyword, rest in self.instructions:
            if keyword == "COPY":
                found += [flag.split("=", 1)[1] for flag in _flags(rest)[0] if flag.startswith("--from=")]
        return found


@dataclass
class Dockerfile:
    """The build args declared before the first ``FROM`` and the stages, in file order."""

    path: Path
    global_args: dict[str, str | None]
    stages: list[Stage]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def needed_for(self, name: str) -> list[Stage]:
        """The stages BuildKit builds for ``--target name``, in file order (it skips the others)."""
        needed, todo = set(), [name]
        while todo:
            stage = self.stage(todo.pop())
            if stage is None or stage.name in needed:
                continue
            needed.add(stage.name)
            todo += [stage.base, *stage.copies_from()]
        return [s for s in self.stages if s.name in needed]

    def platform_of(self, stage: Stage) -> str | None:
        """The stage's ``--platform``, inherited from its base stage as BuildKit does; None if unpinned."""
        while stage.platform is None and self.stage(stage.base) is not None:
            stage = self.stage(stage.base)
        return stage.platform

    def commands(self, stage: Stage, overrides: dict[str, str]) -> tuple[dict[str, str | None], list[str]]:
        """The build args ``stage`` declares (with the values they get) and its RUN commands.

        ``${NAME}`` / ``$NAME`` of a build arg or ``ENV`` variable is replaced by its value, as the
        shell in the container would; anything else (``$(...)``, unknown names) is left as written.
        """
        args, commands, _ = self._walk(stage, overrides)
        return args, commands

    def _walk(self, stage: Stage, overrides: dict[str, str]):
        base = self.stage(stage.base)
        env = dict(self._walk(base, overrides)[2]) if base is not None else {}
        args: dict[str, str | None] = {}
        commands = []
        for keyword, rest in stage.instructions:
            values = {**args, **env}
            if keyword == "ARG":
                name, default = _arg(rest)
                args[name] = overrides.get(name, default if default is not None else self.global_args.get(name))
            elif keyword == "ENV":
                env.update({k: _expand(v, values) for k, v in _env(rest).items()})
            elif keyword == "RUN":
                commands.append(_expand(_LEADING_FLAGS.sub("", rest), values))
        return args, commands, env


def read_dockerfile(path: str | Path) -> Dockerfile:
    """Parse the Dockerfile at ``path``; a missing or unreadable file is a one-line error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BnnDeployError(f"cannot read {path} ({first_line(exc)}); pass --context a bnn-deploy checkout") from None
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            stages.append(_from(rest, len(stages)))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
        elif keyword == "ARG":
            name, default = _arg(rest)
            global_args[name] = default
    return Dockerfile(path, global_args, stages)


def instructions(text: str) -> list[tuple[str, str]]:
    """``(KEYWORD, rest)`` per instruction: comment lines dropped, ``\\`` continuations joined."""
    found, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # Docker skips these inside continuations too
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    return found


def _from(rest: str, index: int) -> Stage:
    flags, words = _flags(rest)
    platform = next((f.split("=", 1)[1] for f in flags if f.startswith("--platform=")), None)
    name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(index)
    return Stage(name=name, base=words[0] if words else "", platform=platform)


def _flags(rest: str) -> tuple[list[str], list[str]]:
    """Split an instruction's leading ``--flag=value`` words from the rest of its words."""
    words = rest.split()
    count = next((i for i, w in enumerate(words) if not w.startswith("--")), len(words))
    return words[:count], words[count:]


def _arg(rest: str) -> tuple[str, str | None]:
    name, eq, default = shlex.split(rest)[0].partition("=")
    return name, default if eq else None


def _env(rest: str) -> dict[str, str]:
    words = shlex.split(rest)
    if words and "=" not in words[0]:  # the legacy form: ENV NAME value with spaces
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


_LEADING_FLAGS = re.compile(r"^(?:--\S+\s+)*")
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _expand(text: str, values: dict[str, str | None]) -> str:
    def value(match: re.Match) -> str:
        found = values.get(match.group(1) or match.group(2))
        return match.group(0) if found is None else found

    return _VAR.sub(value, text)
