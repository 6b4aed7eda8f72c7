"""Label printers: ESC/POS over serial, and a pty simulator that turns what it receives back into images."""
