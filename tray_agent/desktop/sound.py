"""The notification sound: a short chime synthesised with the stdlib (``wave``), bundled as
``tray_agent/assets/notify.wav``, and played without blocking by whatever player exists.

A missing player is logged once, never fatal. Run ``python -m tray_agent.desktop.sound``
to regenerate the WAV.
"""

from __future__ import annotations

import logging
import math
import shutil
import struct
import subprocess
import sys
import threading
import wave
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

SOUND_FILE = Path(__file__).resolve().parent.parent / "assets" / "notify.wav"
RATE = 22050
# Linux players in order of preference: PipeWire/PulseAudio first (they mix with other
# apps), raw ALSA last. macOS ships afplay.
PLAYERS: tuple[tuple[str, ...], ...] = (
    ("pw-play",), ("paplay",), ("aplay", "-q"), ("afplay",), ("ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"),
)


def synthesize(path: Path = SOUND_FILE) -> Path:
    """Write a two-note chime (E6 then B6, bell-like decay), 0.35 s, mono 16-bit."""
    notes = ((1318.5, 0.0, 0.30), (1975.5, 0.09, 0.26))  # (Hz, start s, length s)
    total = int(RATE * 0.36)
    samples = [0.0] * total
    for freq, start, length in notes:
        first = int(start * RATE)
        for i in range(int(length * RATE)):
            t = i / RATE
            attack = min(1.0, t / 0.004)  # 4 ms attack: no click at the start
            env = attack * math.exp(-t * 11.0)
            tone = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(2 * math.pi * 2 * freq * t)
            if first + i < total:
                samples[first + i] += 0.32 * env * tone
    frames = b"".join(struct.pack("<h", int(max(-1.0, min(1.0, s)) * 32767)) for s in samples)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    return path


def find_player() -> list[str] | None:
    """The command that plays a WAV file here, or None (Windows uses winsound instead)."""
    if sys.platform == "win32":
        return ["winsound"]
    for cmd in PLAYERS:
        exe = shutil.which(cmd[0])
        if exe:
            return [exe, *cmd[1:]]
    return None


class SoundPlayer:
    """Plays the bundled chime in the background; says once when it cannot."""

    def __init__(self, path: Path = SOUND_FILE) -> None:
        self.path = path
        self._player: list[str] | None | Literal[False] = False  # False: not looked up yet
        self._warned = False
        self.played = 0

    def play(self) -> bool:
        if self._player is False:
            self._player = find_player()
        player = self._player
        if not player:
            if not self._warned:
                log.warning("no audio player found (pw-play, paplay, aplay, afplay); notifications stay silent")
                self._warned = True
            return False
        try:
            if sys.platform == "win32" and player == ["winsound"]:
                import winsound

                winsound.PlaySound(str(self.path), winsound.SND_FILENAME | winsound.SND_ASYNC)
            else:
                proc = subprocess.Popen([*player, str(self.path)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # Reap it off-thread so no zombie is left behind.
                threading.Thread(target=proc.wait, name="sound-reaper", daemon=True).start()
        except OSError as exc:
            if not self._warned:
                log.warning("could not play the notification sound with %s: %s", player[0], exc)
                self._warned = True
            return False
        self.played += 1
        return True


if __name__ == "__main__":
    print(synthesize())
