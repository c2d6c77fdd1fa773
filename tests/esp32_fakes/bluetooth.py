# Stand-in for MicroPython's `bluetooth` module: enough of BLE for the radio to start advertising.


class UUID:
    def __init__(self, value):
        self.value = value


class BLE:
    def __init__(self):
        self.handler = None
        self.values = {}

    def active(self, *on):
        return True

    def config(self, *names, **values):
        return None

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        out = []
        for i, (_uuid, chars) in enumerate(services):
            out.append(tuple(16 * i + 2 * (k + 1) for k in range(len(chars))))
        return tuple(out)

    def gatts_set_buffer(self, handle, size, append=False):
        pass

    def gatts_write(self, handle, data, send_update=False):
        self.values[handle] = bytes(data)

    def gatts_read(self, handle):
        return self.values.get(handle, b"")

    def gatts_notify(self, conn, handle, data=None):
        return True

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        pass

    def gap_disconnect(self, conn):
        return True

    def gap_passkey(self, conn, action, passkey):
        pass
