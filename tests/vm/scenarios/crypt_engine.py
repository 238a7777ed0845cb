"""The crypt engine's own VM test program (tests/crypt, target crypt_vm_test), a gtest
binary run in the guest with two empty disks; its exit status is the scenario's result.
A missing binary is a failure: the tier never skips it."""

DESCRIPTION = "crypt_vm_test (gtest) against real dm-crypt/dm-integrity on two 256 MiB disks"


def run(ctx):
    disks = [ctx.disk("a", "256M"), ctx.disk("b", "256M")]
    ctx.boot("crypt_vm_test --gtest_color=no\n", disks, binaries=["crypt_vm_test"],
             label="crypt_vm_test", timeout=900)
