"""Generate alarm.wav, the monitor's alarm sound (run: python make_alarm_sound.py).

Three rising two-tone beeps (880 Hz and 1320 Hz: a fifth apart, in the range the ear
hears best and small speakers reproduce), 1.5 s in all, 16-bit mono at 22.05 kHz.
Each beep has 10 ms fades so the speaker does not click. Standard library only, so
the file can be rebuilt anywhere and checked against the committed one.
"""

import math
import struct
import wave
from pathlib import Path

RATE = 22050
BEEP_S = 0.18
GAP_S = 0.07
FADE_S = 0.01
LEVEL = 0.8  # of full scale: loud, with headroom


def samples():
    out = []
    for i in range(6):  # three pairs: low, high
        freq = 880.0 if i % 2 == 0 else 1320.0
        n = int(BEEP_S * RATE)
        fade = int(FADE_S * RATE)
        for k in range(n):
            env = min(1.0, k / fade, (n - 1 - k) / fade)
            out.append(LEVEL * env * math.sin(2 * math.pi * freq * k / RATE))
        out.extend([0.0] * int(GAP_S * RATE))
    return out


def write(path):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(round(s * 32767))) for s in samples()))


if __name__ == "__main__":
    write(Path(__file__).with_name("alarm.wav"))
