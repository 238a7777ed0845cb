"""Cloak's VM test tier: a real kernel with dm-crypt and dm-integrity under QEMU."""
