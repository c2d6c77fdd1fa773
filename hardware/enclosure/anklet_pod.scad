// anklet reference pod (bom.csv ENC1): a two-part PETG shell for the XIAO ESP32S3, the
// LSM6DS3TR-C breakout and the 500 mAh cell, sealed and jacketed in silicone (README, step 8).
//
//   openscad -o base.stl -D 'part="base"' anklet_pod.scad
//   openscad -o lid.stl  -D 'part="lid"'  anklet_pod.scad
//
// The outer size must match power_budget.py ENCLOSURE_MM and bom.csv ENC1 (tests/test_hardware.py
// renders this file and checks it). The asserts below check that the parts fit inside.
//
// Axes: x along the long side, y across, z from the skin side (base) to the room side (lid).

part = "both";          // "base", "lid" or "both" (laid side by side for printing)

outer = [44, 36, 16];   // outer size, mm
wall = 1.6;             // wall thickness
r_out = 3;              // outer edge radius (safety.md: at least 2 mm)
seam_z = 5.0;           // height of the seam between base and lid (below the USB-C slot)
lip_h = 1.5;            // alignment lip rising from the base into the lid
lip_t = 0.8;            // lip thickness
fit = 0.2;              // clearance between lip and lid

// Inner stack (approximate maker dimensions; measure your parts and adjust):
cell = [36, 29, 4.75];  // BT1, Adafruit PID 1578 (pouch with its protection board)
xiao = [21, 17.5, 3.5]; // U1 with its RF shield; USB-C on the short edge at x = 0
imu = [25.4, 17.8, 2.7];// U2 with the STEMMA QT connectors removed
tape = 0.5;             // polyimide tape between cell and U1
foam = 1.0;             // foam tape (TP1) between U1 and U2
strip = 12;             // free strip beside U1/U2 for J1, the divider and the antenna lead

usb = [9.6, 3.9];       // USB-C slot: receptacle 8.9 x 3.2 mm plus clearance (width in y, height in z)

inner = [outer[0] - 2 * wall, outer[1] - 2 * wall, outer[2] - 2 * wall];
stack_h = cell[2] + tape + xiao[2] + foam + imu[2];
usb_z = wall + cell[2] + tape + xiao[2] / 2;   // centre of U1's USB-C receptacle
usb_y = wall + xiao[1] / 2;                      // U1 lies against the y = 0 wall

assert(r_out >= 2, "outer edges must be rounded to at least 2 mm (safety.md)");
assert(stack_h <= inner[2], str("stack of ", stack_h, " mm does not fit the ", inner[2], " mm inside"));
assert(cell[0] <= inner[0] && cell[1] <= inner[1], "cell does not fit the floor");
assert(max(xiao[0], imu[0]) <= inner[0], "U1 or U2 longer than the inside");
assert(max(xiao[1], imu[1]) + strip <= inner[1], "no room for the connector strip beside U1/U2");
assert(usb_z - usb[1] / 2 > seam_z + lip_h || usb_z + usb[1] / 2 < seam_z, "USB slot crosses the seam");

module rounded_box(size, r) {
    hull() for (x = [r, size[0] - r], y = [r, size[1] - r], z = [r, size[2] - r])
        translate([x, y, z]) sphere(r = r, $fn = $fn > 0 ? $fn : 32);
}

module shell() {
    difference() {
        rounded_box(outer, r_out);
        translate([wall, wall, wall]) rounded_box(inner, max(r_out - wall, 0.5));
        // USB-C slot through the x = 0 wall
        translate([-1, usb_y - usb[0] / 2, usb_z - usb[1] / 2]) cube([wall + 2, usb[0], usb[1]]);
    }
}

module base() {
    intersection() {
        shell();
        translate([-1, -1, -1]) cube([outer[0] + 2, outer[1] + 2, seam_z + 1]);
    }
    // alignment lip just inside the wall, glued and sealed with silicone at assembly
    difference() {
        intersection() {
            translate([wall, wall, seam_z - 0.01]) cube([inner[0], inner[1], lip_h]);
            translate([wall, wall, 0]) rounded_box([inner[0], inner[1], outer[2]], max(r_out - wall, 0.5));
        }
        translate([wall + lip_t, wall + lip_t, seam_z - 1])
            cube([inner[0] - 2 * lip_t, inner[1] - 2 * lip_t, lip_h + 2]);
        translate([-1, usb_y - usb[0] / 2, usb_z - usb[1] / 2]) cube([wall + lip_t + 2, usb[0], usb[1]]);
    }
}

module lid() {
    difference() {
        intersection() {
            shell();
            translate([-1, -1, seam_z]) cube([outer[0] + 2, outer[1] + 2, outer[2]]);
        }
        // make room for the base's lip
        intersection() {
            translate([wall - fit, wall - fit, seam_z - 0.01])
                cube([inner[0] + 2 * fit, inner[1] + 2 * fit, lip_h + fit]);
            translate([wall - fit, wall - fit, 0])
                rounded_box([inner[0] + 2 * fit, inner[1] + 2 * fit, outer[2]], max(r_out - wall, 0.5) + fit);
        }
    }
}

if (part == "base") base();
else if (part == "lid") translate([0, 0, outer[2]]) mirror([0, 0, 1]) lid();
else if (part == "assembled") { base(); lid(); }
else { base(); translate([0, outer[1] + 5, outer[2]]) mirror([0, 0, 1]) lid(); }
