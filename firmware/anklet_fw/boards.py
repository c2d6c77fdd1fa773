# Board definitions: pins, I2C bus, IMU part and battery divider.
#
# hardware/ documents the reference build; a test checks that its wiring table
# and this file agree. Add a board by adding a dict here.

REFERENCE = "xiao_esp32s3"

BOARDS = {
    # Seeed Studio XIAO ESP32S3 (LiPo charger on board) + LSM6DS3TR-C breakout.
    "xiao_esp32s3": {
        "i2c_id": 0,
        "sda": 5,  # D4
        "scl": 6,  # D5
        "i2c_freq": 400000,
        "imu": "lsm6ds3trc",
        "imu_addr": 0x6A,
        "imu_int1": 3,  # D2: FIFO threshold interrupt
        "bat_adc": 1,  # A0, through the divider below
        "bat_div_num": 2,  # Vbat = Vadc * num / den (two equal 220 kOhm resistors)
        "bat_div_den": 1,
        "led": 21,  # user LED, active low
    },
    # M5Stack AtomS3: ESP32-S3 with an MPU6886 on its internal I2C bus (bench and development board).
    "atoms3": {
        "i2c_id": 0,
        "sda": 38,
        "scl": 39,
        "i2c_freq": 400000,
        "imu": "mpu6886",
        "imu_addr": 0x68,
        "imu_int1": None,
        "bat_adc": None,
        "bat_div_num": 1,
        "bat_div_den": 1,
        "led": None,
    },
}


def get(name=None):
    name = name or REFERENCE
    if name not in BOARDS:
        raise ValueError("unknown board %r (known: %s)" % (name, ", ".join(sorted(BOARDS))))
    return BOARDS[name]
