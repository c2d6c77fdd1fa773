"""Where an alarm goes besides the monitor's own speaker, notification and terminal.

Each output is one more consumer of the monitor's alarm state: it is handed a `BoardState` every tick and on every
change, and it may acknowledge or mute through an `OutputControl`. An output that fails raises `OutputError`; the
monitor turns that into a FAULT alarm of its own, and the local speaker stays the primary path.

- `base.py`: the contract (BoardState, AlarmItem, OutputControl, AlarmOutput, OutputError).
- `board.py`: a BoardState from a running monitor.
- `hub.py`: the monitor's side: start, publish (each tick and at once on a change), acknowledge, failures as FAULTs.
- `registry.py`: every kind of output, its keys in config.toml, and how to build it from them.
- `web.py`, `page.html`: the page for a bedside phone (`anklet monitor --web`).
- `mqtt.py`: Home Assistant (or Node-RED) over MQTT: discovery, availability with a Last Will, acknowledge in.
- `push.py`: ntfy and Apprise pushes, repeated until acknowledged.
"""
